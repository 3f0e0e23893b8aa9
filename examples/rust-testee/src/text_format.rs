//! Protobuf text format, as `google.protobuf.text_format.Parse` (protobuf-python) reads
//! it, for the one message the controller reads: `monolith.ControllerHooksProto`
//! (`optional Action action = 1;`, a closed proto2 enum), into prost's generated struct.
//! prost has no text format; this parser's behaviour (what parses, to what, and where it
//! fails) is protobuf-python's exactly, for the corpus and beyond.
//!
//! The error texts are protobuf-python's, because the original writes `str(ParseError)`
//! into the action response file: `1:1 : Message type "..." has no field named "x".`.
//! The tokenizer is a port of `text_format.Tokenizer`: text split on `\n`, columns
//! counted in characters, whitespace and `#` comments skipped, the same token patterns.

use std::fmt;

use crate::proto::monolith::controller_hooks_proto::Action;
use crate::proto::monolith::ControllerHooksProto;

pub const MESSAGE: &str = "monolith.ControllerHooksProto";
pub const ACTION_ENUM: &str = "monolith.ControllerHooksProto.Action";

/// `text_format.ParseError`: `str()` of it is `"<line>:<column> : <message>"`.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} : {}", self.line, self.column, self.message)
    }
}

/// `text_format.Parse(text, ControllerHooksProto())`: the text of an action file.
pub fn parse_controller_hooks_proto(text: &str) -> Result<ControllerHooksProto, ParseError> {
    let mut tokenizer = Tokenizer::new(text);
    let mut action: Option<i32> = None;
    while !tokenizer.at_end() {
        // _MergeField
        if tokenizer.try_consume("[") {
            tokenizer.consume_identifier()?;
            while tokenizer.try_consume(".") {
                tokenizer.consume_identifier()?;
            }
            let message = format!("Message type \"{MESSAGE}\" does not have extensions.");
            return Err(tokenizer.error_previous_token(message));
        }
        let name = tokenizer.consume_identifier_or_number()?;
        if name != "action" {
            let message = format!("Message type \"{MESSAGE}\" has no field named \"{name}\".");
            return Err(tokenizer.error_previous_token(message));
        }
        tokenizer.consume(":")?;
        // _MergeScalarField: ConsumeEnum, then the duplicate check of a field with presence.
        let value = tokenizer.consume_enum()?;
        if action.is_some() {
            let message =
                format!("Message type \"{MESSAGE}\" should not have multiple \"action\" fields.");
            return Err(tokenizer.error_previous_token(message));
        }
        action = Some(value);
        if !tokenizer.try_consume(",") {
            tokenizer.try_consume(";");
        }
    }
    Ok(ControllerHooksProto { action })
}

/// Python's `\s` (`str.isspace`).
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `\w` (`str.isalnum` or `_`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Tokenizer {
    lines: Vec<Vec<char>>,
    next_line: usize,
    current: Vec<char>,
    line: isize,
    column: usize,
    previous_line: isize,
    previous_column: usize,
    more_lines: bool,
    token: Vec<char>,
}

impl Tokenizer {
    fn new(text: &str) -> Tokenizer {
        let mut tokenizer = Tokenizer {
            lines: text.split('\n').map(|l| l.chars().collect()).collect(),
            next_line: 0,
            current: Vec::new(),
            line: -1,
            column: 0,
            previous_line: 0,
            previous_column: 0,
            more_lines: true,
            token: Vec::new(),
        };
        tokenizer.skip_whitespace();
        tokenizer.next_token();
        tokenizer
    }

    fn at_end(&self) -> bool {
        self.token.is_empty()
    }

    fn token_text(&self) -> String {
        self.token.iter().collect()
    }

    fn pop_line(&mut self) {
        while self.current.len() <= self.column {
            match self.lines.get(self.next_line) {
                None => {
                    self.current.clear();
                    self.more_lines = false;
                    return;
                }
                Some(line) => {
                    self.current = line.clone();
                    self.next_line += 1;
                    self.line += 1;
                    self.column = 0;
                }
            }
        }
    }

    /// Skips `(\s|(#.*$))+` (whitespace, and comments to the end of the line).
    fn skip_whitespace(&mut self) {
        loop {
            self.pop_line();
            let start = self.column;
            let mut i = start;
            while let Some(&c) = self.current.get(i) {
                if c == '#' {
                    i = self.current.len();
                } else if is_space(c) {
                    i += 1;
                } else {
                    break;
                }
            }
            if i == start {
                return;
            }
            self.column = i;
        }
    }

    fn next_token(&mut self) {
        self.previous_line = self.line;
        self.previous_column = self.column;
        self.column += self.token.len();
        self.skip_whitespace();
        if !self.more_lines {
            self.token.clear();
            return;
        }
        let end = self.match_token(self.column).unwrap_or(self.column + 1);
        self.token = self.current[self.column..end].to_vec();
    }

    /// The end of the `_TOKEN` pattern matched at `start`: an identifier, a number or a
    /// quoted string (`None`: no match, the token is the single character there).
    fn match_token(&self, start: usize) -> Option<usize> {
        let line = &self.current;
        let at = |i: usize| line.get(i).copied();
        let run = |mut i: usize, ok: fn(char) -> bool| {
            while at(i).is_some_and(ok) {
                i += 1;
            }
            i
        };
        let c = at(start)?;
        if c.is_ascii_alphabetic() || c == '_' {
            return Some(run(start + 1, |c| {
                c.is_ascii_alphanumeric() || "_+-".contains(c)
            }));
        }
        let number_tail = |c: char| c.is_ascii_alphanumeric() || "_.+-".contains(c);
        if c.is_ascii_digit() || c == '+' || c == '-' {
            return Some(run(start + 1, number_tail));
        }
        if c == '.' && at(start + 1).is_some_and(|d| d.is_ascii_digit()) {
            return Some(run(start + 2, number_tail));
        }
        if c == '\'' || c == '"' {
            let mut i = start + 1;
            while let Some(d) = at(i) {
                if d == c {
                    return Some(i + 1);
                }
                i += if d == '\\' && at(i + 1).is_some() {
                    2
                } else {
                    1
                };
            }
            return Some(i);
        }
        None
    }

    fn try_consume(&mut self, token: &str) -> bool {
        if self.token.iter().copied().eq(token.chars()) {
            self.next_token();
            true
        } else {
            false
        }
    }

    fn consume(&mut self, token: &str) -> Result<(), ParseError> {
        if self.try_consume(token) {
            Ok(())
        } else {
            Err(self.error(format!("Expected \"{token}\".")))
        }
    }

    fn consume_identifier(&mut self) -> Result<String, ParseError> {
        let ok = self
            .token
            .first()
            .is_some_and(|&c| is_word(c) && !c.is_numeric());
        if !ok {
            return Err(self.error("Expected identifier.".to_string()));
        }
        let text = self.token_text();
        self.next_token();
        Ok(text)
    }

    fn consume_identifier_or_number(&mut self) -> Result<String, ParseError> {
        let text = self.token_text();
        if !self.token.first().is_some_and(|&c| is_word(c)) {
            return Err(self.error(format!("Expected identifier or number, got {text}.")));
        }
        self.next_token();
        Ok(text)
    }

    /// `ConsumeEnum` with `ParseEnum`: a number (`int(token, 0)`) or a value name; the
    /// enum is closed (proto2), so an unknown number is an error.
    fn consume_enum(&mut self) -> Result<i32, ParseError> {
        let text = self.token_text();
        let value = match python_int(&text) {
            Some(number) => match i32::try_from(number).ok().and_then(Action::from_i32) {
                Some(action) => action as i32,
                None => {
                    return Err(self.error(format!(
                        "Enum type \"{ACTION_ENUM}\" has no value with number {number}."
                    )))
                }
            },
            None => match Action::from_str_name(&text) {
                Some(action) => action as i32,
                None => {
                    return Err(self.error(format!(
                        "Enum type \"{ACTION_ENUM}\" has no value named {text}."
                    )))
                }
            },
        };
        self.next_token();
        Ok(value)
    }

    /// `Tokenizer.ParseError`: at the current token, quoting the current line.
    fn error(&self, message: String) -> ParseError {
        let line: String = self.current.iter().collect();
        ParseError {
            line: (self.line + 1) as usize,
            column: self.column + 1,
            message: format!("'{line}': {message}"),
        }
    }

    /// `Tokenizer.ParseErrorPreviousToken`: at the token just consumed.
    fn error_previous_token(&self, message: String) -> ParseError {
        ParseError {
            line: (self.previous_line + 1) as usize,
            column: self.previous_column + 1,
            message,
        }
    }
}

/// Python's `int(text, 0)`: optional sign, `0x`/`0o`/`0b` prefixes, `_` between digits,
/// no leading zeros in a non-zero decimal. `None` where Python raises `ValueError` (or
/// the value does not fit an `i128`).
fn python_int(text: &str) -> Option<i128> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = match lower.get(..2) {
        Some("0x") => (16, &lower[2..]),
        Some("0o") => (8, &lower[2..]),
        Some("0b") => (2, &lower[2..]),
        _ => (10, lower.as_str()),
    };
    // After a prefix one leading underscore is allowed ("0x_1f").
    let digits = if radix != 10 {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if radix == 10 && clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
        return None;
    }
    let magnitude = i128::from_str_radix(&clean, radix).ok()?;
    if clean.starts_with('+') || clean.starts_with('-') {
        return None; // from_str_radix takes a sign; Python does not take a second one
    }
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse_controller_hooks_proto(text).unwrap_err().to_string()
    }

    fn action(text: &str) -> Result<Option<Action>, ParseError> {
        parse_controller_hooks_proto(text).map(|p| p.action.map(|a| Action::from_i32(a).unwrap()))
    }

    #[test]
    fn actions() {
        assert_eq!(
            action("action: TRIGGER_SAVE"),
            Ok(Some(Action::TriggerSave))
        );
        assert_eq!(action("# c\naction: STOP # now\n"), Ok(Some(Action::Stop)));
        assert_eq!(
            action("action: TRIGGER_SAVE\r\n"),
            Ok(Some(Action::TriggerSave))
        );
        assert_eq!(action("action: 0x2;"), Ok(Some(Action::Stop)));
        assert_eq!(action("action: UNKNOWN"), Ok(Some(Action::Unknown)));
        assert_eq!(action(""), Ok(None));
    }

    #[test]
    fn protobuf_python_error_texts() {
        assert_eq!(
            error("hello world"),
            "1:1 : Message type \"monolith.ControllerHooksProto\" has no field named \"hello\"."
        );
        assert_eq!(
            error("action: STOP action: TRIGGER_SAVE"),
            "1:22 : Message type \"monolith.ControllerHooksProto\" should not have multiple \"action\" fields."
        );
        assert_eq!(
            error("action: 7"),
            "1:9 : 'action: 7': Enum type \"monolith.ControllerHooksProto.Action\" has no value with number 7."
        );
        assert_eq!(
            error("action: PAUSE"),
            "1:9 : 'action: PAUSE': Enum type \"monolith.ControllerHooksProto.Action\" has no value named PAUSE."
        );
        assert_eq!(
            error("\u{feff}action: TRIGGER_SAVE"),
            "1:1 : '\u{feff}action: TRIGGER_SAVE': Expected identifier or number, got \u{feff}."
        );
        assert_eq!(
            error("action TRIGGER_SAVE"),
            "1:8 : 'action TRIGGER_SAVE': Expected \":\"."
        );
        assert_eq!(
            error("action:"),
            "1:8 : '': Enum type \"monolith.ControllerHooksProto.Action\" has no value named ."
        );
    }

    #[test]
    fn python_int_base_zero() {
        assert_eq!(python_int("7"), Some(7));
        assert_eq!(python_int("-0x1_f"), Some(-31));
        assert_eq!(python_int("00"), Some(0));
        assert_eq!(python_int("07"), None);
        assert_eq!(python_int("1__0"), None);
        assert_eq!(python_int("TRIGGER_SAVE"), None);
        assert_eq!(python_int("+-1"), None);
    }
}
