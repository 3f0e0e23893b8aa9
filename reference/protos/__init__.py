"""Wire-identical protobuf schemas mirroring Monolith's, plus generated ``*_pb2`` modules.

Regenerate with ``python tools/gen_protos.py`` (grpcio-tools==1.85.1); never edit ``*_pb2.py``.
"""
