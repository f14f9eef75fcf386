"""Server reflection over the public API only, with the .proto comments, in v1 and v1alpha.

grpcio-reflection serves ``grpc.reflection.v1alpha`` from the process's default descriptor
pool: that pool holds every generated module the process imported (the internal actor and
wire messages too), and its descriptors carry no source info, so ``grpcurl describe``
showed no comments. This servicer answers from one file set instead: the descriptor set
``protos/generate.py`` writes for ``fabric/api/v1`` (``--include_source_info``, imports
included) plus the health service's file. Nothing else can be listed or described.

Both ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha`` are served; their messages are
the same on the wire (same fields and numbers), so the v1alpha classes carry both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as rpb

SERVICES = ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")
METHOD = "ServerReflectionInfo"
DESCRIPTOR_SET = "api_descriptors.binpb"


def public_api_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """The public API's files (with comments) and their imports, from the generated set."""
    data = resources.files("fabric.api.v1").joinpath(DESCRIPTOR_SET).read_bytes()
    return list(descriptor_pb2.FileDescriptorSet.FromString(data).file)


def file_proto(serialized: bytes) -> descriptor_pb2.FileDescriptorProto:
    """A FileDescriptorProto from a generated module's ``DESCRIPTOR.serialized_pb``."""
    return descriptor_pb2.FileDescriptorProto.FromString(serialized)


def _symbols(file: descriptor_pb2.FileDescriptorProto) -> Iterable[str]:
    """Every fully qualified name the file declares (types, fields, enums, services, methods)."""
    prefix = f"{file.package}." if file.package else ""

    def message(m: descriptor_pb2.DescriptorProto, scope: str) -> Iterable[str]:
        name = f"{scope}{m.name}"
        yield name
        for f in m.field:
            yield f"{name}.{f.name}"
        for o in m.oneof_decl:
            yield f"{name}.{o.name}"
        for n in m.nested_type:
            yield from message(n, f"{name}.")
        for e in m.enum_type:
            yield from enum(e, f"{name}.")

    def enum(e: descriptor_pb2.EnumDescriptorProto, scope: str) -> Iterable[str]:
        yield f"{scope}{e.name}"
        for v in e.value:  # enum values live in the enum's parent scope
            yield f"{scope}{v.name}"

    for m in file.message_type:
        yield from message(m, prefix)
    for e in file.enum_type:
        yield from enum(e, prefix)
    for s in file.service:
        yield f"{prefix}{s.name}"
        for meth in s.method:
            yield f"{prefix}{s.name}.{meth.name}"


class ReflectionIndex:
    """The files served, by name and by symbol, and the services listed."""

    def __init__(
        self, files: Sequence[descriptor_pb2.FileDescriptorProto], services: Sequence[str]
    ) -> None:
        self.files = {f.name: f for f in files}
        self.serialized = {f.name: f.SerializeToString() for f in files}
        self.by_symbol: dict[str, str] = {}
        for f in files:
            for symbol in _symbols(f):
                self.by_symbol.setdefault(symbol, f.name)
        missing = [s for s in services if s not in self.by_symbol]
        if missing:
            raise ValueError(f"reflection: services without a descriptor: {missing}")
        self.services = tuple(sorted(services))

    def closure(self, name: str) -> list[bytes]:
        """The file and, after it, every file it imports (transitively), serialized."""
        out: list[str] = []
        stack = [name]
        while stack:
            current = stack.pop()
            if current in out or current not in self.files:
                continue
            out.append(current)
            stack.extend(self.files[current].dependency)
        return [self.serialized[n] for n in out]

    def answer(self, request: rpb.ServerReflectionRequest) -> rpb.ServerReflectionResponse:
        """The response to one reflection request."""
        response = rpb.ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.WhichOneof("message_request")
        if kind == "list_services":
            response.list_services_response.service.extend(
                rpb.ServiceResponse(name=s) for s in self.services
            )
            return response
        filename: str | None = None
        if kind == "file_by_filename":
            filename = request.file_by_filename if request.file_by_filename in self.files else None
        elif kind == "file_containing_symbol":
            filename = self.by_symbol.get(request.file_containing_symbol.lstrip("."))
        elif kind == "all_extension_numbers_of_type":
            base = request.all_extension_numbers_of_type.lstrip(".")
            if base in self.by_symbol:  # our messages declare no extensions
                response.all_extension_numbers_response.base_type_name = base
                return response
        if filename is None:
            # file_containing_extension too: no extension is declared by the public API
            response.error_response.error_code = grpc.StatusCode.NOT_FOUND.value[0]
            response.error_response.error_message = f"not found ({kind})"
            return response
        response.file_descriptor_response.file_descriptor_proto.extend(self.closure(filename))
        return response


def reflection_handlers(index: ReflectionIndex) -> list[grpc.GenericRpcHandler]:
    """Generic handlers serving ``index`` under both reflection service names."""

    async def info(
        requests: AsyncIterator[rpb.ServerReflectionRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[rpb.ServerReflectionResponse]:
        async for request in requests:
            yield index.answer(request)

    handler = grpc.stream_stream_rpc_method_handler(
        info,
        request_deserializer=rpb.ServerReflectionRequest.FromString,
        response_serializer=rpb.ServerReflectionResponse.SerializeToString,
    )
    return [grpc.method_handlers_generic_handler(s, {METHOD: handler}) for s in SERVICES]
