//! Protobuf wire-format encoding: the few pieces the hooks' files need.
//!
//! Fields are written in field-number order, as protobuf's serializers do, so the bytes
//! are the ones `SerializeToString()` gives.

/// Wire type of a length-delimited field (strings, bytes, messages, packed repeated).
pub const LEN: u32 = 2;
/// Wire type of a varint field.
pub const VARINT: u32 = 0;

/// The key of a field: `(number << 3) | wire_type`, as a varint.
pub fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    put_varint(out, u64::from((field << 3) | wire_type));
}

/// Base-128 varint, least significant group first.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value > 0x7F {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A length-delimited field: tag, length, payload.
pub fn put_bytes(out: &mut Vec<u8>, field: u32, payload: &[u8]) {
    put_tag(out, field, LEN);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// A varint field (int32/int64/enum: negative values take ten bytes, as in protobuf).
pub fn put_varint_field(out: &mut Vec<u8>, field: u32, value: i64) {
    put_tag(out, field, VARINT);
    put_varint(out, value as u64);
}

/// A packed `repeated fixed64` field (omitted when empty, as proto3 does).
pub fn put_packed_fixed64(out: &mut Vec<u8>, field: u32, values: &[u64]) {
    if values.is_empty() {
        return;
    }
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put_bytes(out, field, &payload);
}

/// A packed `repeated float` field (omitted when empty).
pub fn put_packed_float(out: &mut Vec<u8>, field: u32, values: &[f32]) {
    if values.is_empty() {
        return;
    }
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put_bytes(out, field, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        out
    }

    #[test]
    fn varints() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7F]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(300), [0xAC, 0x02]);
        assert_eq!(
            varint(u64::MAX),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn fields() {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, b"ab");
        put_varint_field(&mut out, 3, 150);
        put_packed_fixed64(&mut out, 1, &[]);
        put_packed_fixed64(&mut out, 1, &[1]);
        put_packed_float(&mut out, 1, &[1.0]);
        assert_eq!(
            out,
            [
                0x0A, 2, b'a', b'b', 0x18, 0x96, 0x01, 0x0A, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x0A, 4, 0,
                0, 0x80, 0x3F
            ]
        );
    }
}
