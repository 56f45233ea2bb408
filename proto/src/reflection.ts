import * as path from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { FileDescriptorProto, type IDescriptorProto, type IFileDescriptorProto } from "protobufjs/ext/descriptor";
import { LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from "./load";

const REFLECTION_PROTO = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build/proto/grpc/reflection/v1/reflection.proto");

/**
 * The definition server reflection describes: logtally.v1, grpc.health.v1 and
 * the reflection service itself, so a client sees every service it can call.
 *
 * It is loaded from the same .proto files as the served definition, but with
 * two corrections for strict clients (grpcurl, descriptor pools):
 * - field names as written in the .proto (`job_name`): the served definition
 *   camel-cases them for JavaScript, and protobufjs would put that spelling
 *   into the descriptors;
 * - map entry types named `<Field>Entry`, as protoc names them: protobufjs
 *   names them after the field, and strict pools refuse such a map (the only
 *   one here is grpc.health.v1.HealthListResponse.statuses).
 */
export function loadReflectedDefinition(): protoLoader.PackageDefinition {
  const definition = protoLoader.loadSync([...PROTO_FILES.map((file) => path.join(PROTO_ROOT, file)), healthProtoPath, REFLECTION_PROTO], {
    ...LOADER_OPTIONS,
    keepCase: true,
  });
  const corrected = new Map<Buffer, Buffer>();
  const correctAll = (files: Buffer[]): Buffer[] =>
    files.map((file) => {
      let fixed = corrected.get(file);
      if (!fixed) {
        fixed = correctMapEntries(file);
        corrected.set(file, fixed);
      }
      return fixed;
    });
  const result: protoLoader.PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    result[name] =
      "fileDescriptorProtos" in entry && Array.isArray(entry.fileDescriptorProtos)
        ? ({ ...entry, fileDescriptorProtos: correctAll(entry.fileDescriptorProtos as Buffer[]) } as protoLoader.AnyDefinition)
        : entry;
  }
  return result;
}

/** Renames map entry types to `<Field>Entry` in a serialized FileDescriptorProto. */
function correctMapEntries(serialized: Buffer): Buffer {
  const file = FileDescriptorProto.decode(serialized) as IFileDescriptorProto;
  let changed = false;
  const visit = (message: IDescriptorProto): void => {
    for (const nested of message.nestedType ?? []) {
      visit(nested);
      if (!nested.options?.mapEntry) continue;
      const field = message.field?.find((candidate) => candidate.typeName === nested.name || candidate.typeName?.endsWith(`.${nested.name}`));
      if (!field?.name) continue;
      const entryName = `${field.name.replace(/(?:^|_)([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())}Entry`;
      if (entryName === nested.name) continue;
      field.typeName = field.typeName!.slice(0, field.typeName!.length - nested.name!.length) + entryName;
      nested.name = entryName;
      changed = true;
    }
  };
  for (const message of file.messageType ?? []) visit(message);
  return changed ? Buffer.from(FileDescriptorProto.encode(file).finish()) : serialized;
}
