#!/usr/bin/python3
"""A gRPC client that knows nothing of logtally but what server reflection tells it.

Usage: strict_reflection_client.py HOST:PORT [--host HOST] [--page-size N]
                                   [--watch-changes N] [--timeout-seconds N]

It behaves like grpcurl: it lists the services, fetches the descriptors of each
one through reflection, and adds them to a fresh DescriptorPool, which is
strict: a file whose dependencies are not in the pool, or that names a type it
does not declare or import, is refused. A dependency is looked up only through
reflection (file_by_filename), never on disk, so a server that serves files
with missing or wrong dependency lists makes this client fail, as it makes
grpcurl fail. It then calls every method of logtally.v1.Query, with request
and response classes built from that pool alone and requests written in the
proto3 JSON mapping, as grpcurl -d takes them:
  - GetCounts: the first page, the --host filter, a walk of every page with
    --page-size, and a page token it made up (which must be refused);
  - ListSources;
  - ListMetrics;
  - WatchCounts: reads the snapshot, writes "watch snapshot received" on a
    line of its own to stderr, then reads --watch-changes CHANGE messages.
A Query method it does not know how to call is a failure, so a new method
cannot go unexercised.

Needs Debian's python3-grpcio and python3-protobuf (run it with /usr/bin/python3);
the reflection protocol's own messages are declared below, because Debian does
not package grpcio-reflection.

Output, one JSON object on stdout:
  {
    "reflectionService": "grpc.reflection.v1.ServerReflection",  # the one that answered
    "services": ["grpc.health.v1.Health", ...],   # list_services, sorted
    "files": ["logtally/v1/query.proto", ...],    # files added to the pool, dependencies first
    "queryMethods": [{"name": "GetCounts", "clientStreaming": false, "serverStreaming": false}, ...],
    "called": ["GetCounts", "ListSources", "WatchCounts", "ListMetrics"],  # the Query methods called
    "counts": [{"host": "...", "jobName": "...", "count": "2"}, ...],  # GetCounts({}): its first page
    "filtered": {"host": "server1", "counts": [...]} or null,  # GetCounts({host}), with --host
    "pages": {"pageSize": 7, "pages": [[...], ...], "totalSizes": [...], "tokens": [...]},
    "madeUpToken": {"code": "INVALID_ARGUMENT", "details": "..."},  # or {"code": "OK"}
    "sources": [{"sourceId": "...", "lagBytes": "0", ...}, ...],  # ListSources({})
    "metrics": [{"name": "log_host_job_count", "labelNames": [...], ...}, ...],  # ListMetrics({})
    "watch": {"snapshot": [WatchCountsResponse, ...], "changes": [WatchCountsResponse, ...]}
  }
Messages are in the proto3 JSON mapping, as grpcurl prints them: lowerCamelCase
JSON names, every field present, int64 values as strings, enums by name.

Exit status: 0 on success; 1 with a message on stderr on any failure; 2 on bad
arguments.
"""

import argparse
import json
import queue
import sys

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
except ImportError as error:
    sys.exit(
        f"strict_reflection_client: cannot import {error.name} with {sys.executable}: "
        "install Debian's python3-grpcio and python3-protobuf"
    )

# grpcurl asks for v1 first and falls back to v1alpha on UNIMPLEMENTED.
REFLECTION_PACKAGES = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
QUERY_SERVICE = "logtally.v1.Query"
# The Query methods this client calls; any other is reported as unexercised.
QUERY_METHODS = ("GetCounts", "ListSources", "WatchCounts", "ListMetrics")
WATCH_READY_LINE = "watch snapshot received"


class ClientFailure(Exception):
    """A failure this client reports and exits on."""


def message_class(descriptor):
    """The message class of a descriptor; protobuf 4.21 has only MessageFactory."""
    get_message_class = getattr(message_factory, "GetMessageClass", None)
    if get_message_class is not None:
        return get_message_class(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def _field(message, name, number, field_type, type_name=None, repeated=False, oneof_index=None):
    field = message.field.add(name=name, number=number, type=field_type)
    field.label = (
        descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
        if repeated
        else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    )
    if type_name is not None:
        field.type_name = type_name
    if oneof_index is not None:
        field.oneof_index = oneof_index


def reflection_classes(package):
    """Request and response classes of `package`.ServerReflection, declared by hand.

    Mirrors grpc/reflection/v1/reflection.proto (v1alpha is the same messages
    in another package). They live in their own pool so that the strict pool
    holds only what the server sent.
    """
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package.replace('.', '/')}/reflection.proto", package=package, syntax="proto3"
    )

    def ref(name):
        return f".{package}.{name}"

    request = file.message_type.add(name="ServerReflectionRequest")
    request.oneof_decl.add(name="message_request")
    _field(request, "host", 1, F.TYPE_STRING)
    _field(request, "file_by_filename", 3, F.TYPE_STRING, oneof_index=0)
    _field(request, "file_containing_symbol", 4, F.TYPE_STRING, oneof_index=0)
    _field(request, "file_containing_extension", 5, F.TYPE_MESSAGE, ref("ExtensionRequest"), oneof_index=0)
    _field(request, "all_extension_numbers_of_type", 6, F.TYPE_STRING, oneof_index=0)
    _field(request, "list_services", 7, F.TYPE_STRING, oneof_index=0)

    extension_request = file.message_type.add(name="ExtensionRequest")
    _field(extension_request, "containing_type", 1, F.TYPE_STRING)
    _field(extension_request, "extension_number", 2, F.TYPE_INT32)

    response = file.message_type.add(name="ServerReflectionResponse")
    response.oneof_decl.add(name="message_response")
    _field(response, "valid_host", 1, F.TYPE_STRING)
    _field(response, "original_request", 2, F.TYPE_MESSAGE, ref("ServerReflectionRequest"))
    _field(response, "file_descriptor_response", 4, F.TYPE_MESSAGE, ref("FileDescriptorResponse"), oneof_index=0)
    _field(response, "all_extension_numbers_response", 5, F.TYPE_MESSAGE, ref("ExtensionNumberResponse"), oneof_index=0)
    _field(response, "list_services_response", 6, F.TYPE_MESSAGE, ref("ListServiceResponse"), oneof_index=0)
    _field(response, "error_response", 7, F.TYPE_MESSAGE, ref("ErrorResponse"), oneof_index=0)

    file_descriptor_response = file.message_type.add(name="FileDescriptorResponse")
    _field(file_descriptor_response, "file_descriptor_proto", 1, F.TYPE_BYTES, repeated=True)

    extension_number_response = file.message_type.add(name="ExtensionNumberResponse")
    _field(extension_number_response, "base_type_name", 1, F.TYPE_STRING)
    _field(extension_number_response, "extension_number", 2, F.TYPE_INT32, repeated=True)

    list_service_response = file.message_type.add(name="ListServiceResponse")
    _field(list_service_response, "service", 1, F.TYPE_MESSAGE, ref("ServiceResponse"), repeated=True)

    service_response = file.message_type.add(name="ServiceResponse")
    _field(service_response, "name", 1, F.TYPE_STRING)

    error_response = file.message_type.add(name="ErrorResponse")
    _field(error_response, "error_code", 1, F.TYPE_INT32)
    _field(error_response, "error_message", 2, F.TYPE_STRING)

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file.SerializeToString())
    return (
        message_class(pool.FindMessageTypeByName(f"{package}.ServerReflectionRequest")),
        message_class(pool.FindMessageTypeByName(f"{package}.ServerReflectionResponse")),
    )


class ReflectionStream:
    """One ServerReflectionInfo stream: each request is answered by one response, in order."""

    _END = object()

    def __init__(self, channel, package, timeout_seconds):
        self.service = f"{package}.ServerReflection"
        self._request_class, response_class = reflection_classes(package)
        method = channel.stream_stream(
            f"/{self.service}/ServerReflectionInfo",
            request_serializer=lambda request: request.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        self._requests = queue.Queue()
        self._responses = method(iter(self._requests.get, self._END), timeout=timeout_seconds)

    def ask(self, **request_fields):
        """Sends one request; returns its response, raising ClientFailure on an error_response."""
        self._requests.put(self._request_class(**request_fields))
        try:
            response = next(self._responses)
        except StopIteration:
            raise ClientFailure(f"{self.service} ended the stream without answering {request_fields}")
        if response.WhichOneof("message_response") == "error_response":
            error = response.error_response
            raise ClientFailure(
                f"{self.service} answered {request_fields} with error {error.error_code}: {error.error_message}"
            )
        return response

    def close(self):
        self._requests.put(self._END)
        self._responses.cancel()


def open_reflection(channel, timeout_seconds):
    """Opens a reflection stream and lists the services, trying v1 then v1alpha."""
    for package in REFLECTION_PACKAGES:
        stream = ReflectionStream(channel, package, timeout_seconds)
        try:
            response = stream.ask(list_services="*")
        except grpc.RpcError as error:
            stream.close()
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                continue
            raise
        except BaseException:
            stream.close()
            raise
        if response.WhichOneof("message_response") != "list_services_response":
            stream.close()
            raise ClientFailure(f"{stream.service} answered list_services with {response.WhichOneof('message_response')}")
        return stream, sorted(service.name for service in response.list_services_response.service)
    raise ClientFailure(f"the server implements none of {', '.join(p + '.ServerReflection' for p in REFLECTION_PACKAGES)}")


def file_descriptors(response, asked):
    if response.WhichOneof("message_response") != "file_descriptor_response":
        raise ClientFailure(f"reflection answered {asked} with {response.WhichOneof('message_response')}")
    files = []
    for serialized in response.file_descriptor_response.file_descriptor_proto:
        file = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        if not file.name:
            raise ClientFailure(f"reflection answered {asked} with a file descriptor that has no name")
        files.append(file)
    if not files:
        raise ClientFailure(f"reflection answered {asked} with no file descriptors")
    return files


class StrictFileSet:
    """Files received through reflection, added to a fresh pool dependencies first."""

    def __init__(self, stream):
        self._stream = stream
        self._received = {}
        self.pool = descriptor_pool.DescriptorPool()
        self.added = []

    def receive(self, files, asked):
        for file in files:
            known = self._received.get(file.name)
            if known is None:
                self._received[file.name] = file
            elif known != file:
                raise ClientFailure(f"reflection sent two different descriptors named {file.name!r} (the second for {asked})")

    def fetch_symbol(self, symbol):
        asked = {"file_containing_symbol": symbol}
        self.receive(file_descriptors(self._stream.ask(**asked), asked), asked)

    def add(self, name, importers=()):
        """Adds `name` after its dependencies, fetching by file name only what the server did not send."""
        if name in self.added:
            return
        if name in importers:
            raise ClientFailure(f"import cycle through {' -> '.join(importers + (name,))}")
        if name not in self._received:
            asked = {"file_by_filename": name}
            try:
                self.receive(file_descriptors(self._stream.ask(**asked), asked), asked)
            except ClientFailure as error:
                raise ClientFailure(
                    f"{importers[-1]!r} depends on {name!r}, which reflection did not provide: {error}"
                ) from error
            if name not in self._received:
                raise ClientFailure(f"{importers[-1]!r} depends on {name!r}; asked for it by name, reflection sent other files")
        file = self._received[name]
        for dependency in file.dependency:
            self.add(dependency, importers + (name,))
        try:
            self.pool.AddSerializedFile(file.SerializeToString())
            # Building the file resolves every type name it uses against the pool.
            self.pool.FindFileByName(name)
        except Exception as error:
            raise ClientFailure(
                f"a strict descriptor pool refuses {name!r} as reflection served it "
                f"(dependencies: {list(file.dependency)}): {error}"
            ) from error
        self.added.append(name)

    def add_all(self):
        for name in list(self._received):
            self.add(name)


class QueryCaller:
    """Calls logtally.v1.Query methods with classes built from the strict pool alone."""

    def __init__(self, channel, pool, timeout_seconds):
        try:
            self.service = pool.FindServiceByName(QUERY_SERVICE)
        except KeyError as error:
            raise ClientFailure(f"{QUERY_SERVICE} is not in the descriptors reflection served") from error
        unknown = sorted(set(self.service.methods_by_name) - set(QUERY_METHODS))
        if unknown:
            raise ClientFailure(f"{QUERY_SERVICE} serves {unknown}, which this client does not call")
        self._channel = channel
        self._timeout_seconds = timeout_seconds
        self.called = []

    def methods(self):
        return [
            {"name": method.name, "clientStreaming": method.client_streaming, "serverStreaming": method.server_streaming}
            for method in self.service.methods
        ]

    def _method(self, name, server_streaming):
        method = self.service.methods_by_name.get(name)
        if method is None:
            raise ClientFailure(f"{QUERY_SERVICE} has no method {name}")
        if method.client_streaming or method.server_streaming != server_streaming:
            raise ClientFailure(f"{QUERY_SERVICE}/{name} is not {'server-streaming' if server_streaming else 'unary'}")
        if name not in self.called:
            self.called.append(name)
        request = message_class(method.input_type)()
        response_class = message_class(method.output_type)
        return method, request, response_class

    def unary(self, name, request_json):
        """Calls a unary method with a request given in JSON; returns the response as JSON."""
        method, request, response_class = self._method(name, server_streaming=False)
        # ParseDict refuses a field the served request type does not declare.
        json_format.ParseDict(request_json, request)
        call = self._channel.unary_unary(
            f"/{self.service.full_name}/{method.name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        return to_json(call(request, timeout=self._timeout_seconds))

    def server_streaming(self, name, request_json):
        """Calls a server-streaming method; returns the call, an iterator of responses as messages."""
        method, request, response_class = self._method(name, server_streaming=True)
        json_format.ParseDict(request_json, request)
        call = self._channel.unary_stream(
            f"/{self.service.full_name}/{method.name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        return call(request, timeout=self._timeout_seconds)


def to_json(message):
    return json_format.MessageToDict(message, including_default_value_fields=True)


def field(decoded, name, message_name):
    if name not in decoded:
        raise ClientFailure(f"{message_name} has no field {name}: {decoded}")
    return decoded[name]


def walk_pages(query, page_size):
    """GetCounts page by page with page_size, following next_page_token to the end."""
    pages, total_sizes, tokens = [], [], []
    token = ""
    while True:
        page = query.unary("GetCounts", {"pageSize": page_size, "pageToken": token})
        pages.append(field(page, "counts", "GetCountsResponse"))
        total_sizes.append(field(page, "totalSize", "GetCountsResponse"))
        token = field(page, "nextPageToken", "GetCountsResponse")
        tokens.append(token)
        if token == "":
            return {"pageSize": page_size, "pages": pages, "totalSizes": total_sizes, "tokens": tokens}
        if len(pages) > 100_000:
            raise ClientFailure("GetCounts kept returning page tokens")


def refused_status(query, request_json):
    """Calls GetCounts expecting a refusal; returns the status code name and details."""
    try:
        query.unary("GetCounts", request_json)
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}
    return {"code": "OK"}


def watch(query, change_count):
    """WatchCounts({}): the snapshot messages, then change_count CHANGE messages."""
    responses = query.server_streaming("WatchCounts", {})
    try:
        snapshot, changes = [], []
        for response in responses:
            decoded = to_json(response)
            if not snapshot or not snapshot[-1].get("snapshotComplete"):
                snapshot.append(decoded)
                if decoded.get("snapshotComplete"):
                    sys.stderr.write(WATCH_READY_LINE + "\n")
                    sys.stderr.flush()
                    if change_count == 0:
                        break
                continue
            changes.append(decoded)
            if len(changes) == change_count:
                break
        else:
            raise ClientFailure(f"WatchCounts ended after {len(snapshot)} snapshot and {len(changes)} change messages")
        return {"snapshot": snapshot, "changes": changes}
    finally:
        responses.cancel()


def run(target, host, page_size, watch_changes, timeout_seconds):
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_seconds)
        except grpc.FutureTimeoutError as error:
            raise ClientFailure(f"cannot connect to {target} within {timeout_seconds}s") from error
        stream, services = open_reflection(channel, timeout_seconds)
        try:
            files = StrictFileSet(stream)
            for service in services:
                files.fetch_symbol(service)
            files.add_all()
        finally:
            stream.close()
        for service in services:
            try:
                files.pool.FindServiceByName(service)
            except KeyError as error:
                raise ClientFailure(f"listed service {service} is not declared in the files reflection served for it") from error
        query = QueryCaller(channel, files.pool, timeout_seconds)
        result = {
            "reflectionService": stream.service,
            "services": services,
            "files": files.added,
            "queryMethods": query.methods(),
            "counts": field(query.unary("GetCounts", {}), "counts", "GetCountsResponse"),
            "filtered": None,
            "pages": walk_pages(query, page_size),
            "madeUpToken": refused_status(query, {"pageToken": "bm90LWEtdG9rZW4"}),
            "sources": field(query.unary("ListSources", {}), "sources", "ListSourcesResponse"),
            "metrics": field(query.unary("ListMetrics", {}), "metrics", "ListMetricsResponse"),
            "watch": watch(query, watch_changes),
        }
        if host is not None:
            result["filtered"] = {"host": host, "counts": field(query.unary("GetCounts", {"host": host}), "counts", "GetCountsResponse")}
        result["called"] = query.called
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", metavar="HOST:PORT", help="address of the gRPC server")
    parser.add_argument("--host", help="also call GetCounts selecting this host")
    parser.add_argument("--page-size", type=int, default=2, help="page size of the GetCounts walk (default: 2)")
    parser.add_argument("--watch-changes", type=int, default=0, help="CHANGE messages to read from WatchCounts (default: 0)")
    parser.add_argument("--timeout-seconds", type=float, default=10.0, help="deadline of each call (default: 10)")
    args = parser.parse_args()
    try:
        result = run(args.target, args.host, args.page_size, args.watch_changes, args.timeout_seconds)
    except ClientFailure as error:
        sys.exit(f"strict_reflection_client: {error}")
    except grpc.RpcError as error:
        sys.exit(f"strict_reflection_client: call failed: {error.code().name}: {error.details()}")
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
