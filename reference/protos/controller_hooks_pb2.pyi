from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ControllerHooksProto(_message.Message):
    __slots__ = ("action",)
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ControllerHooksProto.Action]
        TRIGGER_SAVE: _ClassVar[ControllerHooksProto.Action]
        STOP: _ClassVar[ControllerHooksProto.Action]
    UNKNOWN: ControllerHooksProto.Action
    TRIGGER_SAVE: ControllerHooksProto.Action
    STOP: ControllerHooksProto.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: ControllerHooksProto.Action
    def __init__(self, action: _Optional[_Union[ControllerHooksProto.Action, str]] = ...) -> None: ...
