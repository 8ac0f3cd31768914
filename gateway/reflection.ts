// Server reflection for weft.v1. @grpc/reflection serves the descriptors protobufjs makes, and those are not
// what protoc would make: files named by package without their imports (so grpcurl cannot resolve
// google.protobuf.Value, grpc/grpc-node#2958), relative type names, map entries not named "<Field>Entry",
// and proto3 `optional` fields not flagged. This rebuilds them as protoc would before handing them over.
import protobuf from "protobufjs";
import descriptorExt from "protobufjs/ext/descriptor/index.js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";
import { PROTO_FILE } from "./proto.js";

/** Every package the contract uses, and the file a protoc user knows it by. */
const FILE_OF_PACKAGE: Record<string, string> = {
  "weft.v1": "weft/v1/weft.proto",
  "google.protobuf": "google/protobuf/struct.proto",
};

type FileProto = descriptorExt.IFileDescriptorProto;
type MessageProto = descriptorExt.IDescriptorProto;
/** protobufjs's interface predates these two fields; its descriptor.json (which encodes them) has them. */
type FieldProto = descriptorExt.IFieldDescriptorProto & { proto3Optional?: boolean; jsonName?: string };

export function addReflection(server: Pick<Server, "addService">): void {
  new ReflectionService(reflectionDefinition()).addToServer(server);
}

/** A package definition carrying only what ReflectionService reads: the encoded file descriptors. */
export function reflectionDefinition(): PackageDefinition {
  const files = weftFileDescriptors();
  const encoded = files.map((f) => descriptorExt.FileDescriptorProto.encode(descriptorExt.FileDescriptorProto.fromObject(f as never)).finish());
  return { "weft.v1": { fileDescriptorProtos: encoded } } as unknown as PackageDefinition;
}

/** The contract's file descriptors (plain objects), named, linked and spelled as protoc would. */
export function weftFileDescriptors(): FileProto[] {
  const root = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true });
  const set = (root as unknown as { toDescriptor(syntax: string): descriptorExt.IFileDescriptorSet }).toDescriptor("proto3");
  const files = (set.file ?? []).map((f) => descriptorExt.FileDescriptorProto.toObject(f as protobuf.Message) as FileProto);
  for (const file of files) for (const m of file.messageType ?? []) respell(m);
  const types = typeIndex(files);
  for (const file of files) fixFile(file, types);
  return files;
}

/** Local fixes, before names are indexed: map entry names and proto3 optional flags. */
function respell(m: MessageProto): void {
  renameMapEntries(m);
  markProto3Optionals(m);
  for (const nested of m.nestedType ?? []) respell(nested);
}

/** Fully-qualified name (no leading dot) → the package that declares it. */
function typeIndex(files: FileProto[]): Map<string, string> {
  const index = new Map<string, string>();
  const addMessages = (scope: string, pkg: string, messages: MessageProto[] | null | undefined) => {
    for (const m of messages ?? []) {
      const fqn = `${scope}.${m.name}`;
      index.set(fqn, pkg);
      for (const e of m.enumType ?? []) index.set(`${fqn}.${e.name}`, pkg);
      addMessages(fqn, pkg, m.nestedType);
    }
  };
  for (const f of files) {
    const pkg = f.package ?? "";
    for (const e of f.enumType ?? []) index.set(`${pkg}.${e.name}`, pkg);
    addMessages(pkg, pkg, f.messageType);
  }
  return index;
}

function fixFile(file: FileProto, types: Map<string, string>): void {
  const pkg = file.package ?? "";
  const name = FILE_OF_PACKAGE[pkg];
  if (!name) throw new Error(`reflection: no file name known for package ${pkg}; add it to FILE_OF_PACKAGE`);
  file.name = name;
  file.syntax = "proto3";
  const deps = new Set<string>();
  const resolve = (ref: string, scope: string) => {
    const fqn = resolveType(ref, scope, types);
    const owner = types.get(fqn)!;
    if (owner !== pkg) deps.add(FILE_OF_PACKAGE[owner]!);
    return `.${fqn}`;
  };
  for (const m of file.messageType ?? []) fixMessage(m, pkg, resolve);
  for (const s of file.service ?? []) {
    for (const method of s.method ?? []) {
      method.inputType = resolve(method.inputType ?? "", pkg);
      method.outputType = resolve(method.outputType ?? "", pkg);
    }
  }
  file.dependency = [...deps];
}

function fixMessage(m: MessageProto, scope: string, resolve: (ref: string, scope: string) => string): void {
  const fqn = `${scope}.${m.name}`;
  for (const f of (m.field ?? []) as FieldProto[]) {
    f.jsonName = lowerCamel(f.name ?? "");
    if (f.typeName) f.typeName = resolve(f.typeName, fqn);
  }
  for (const nested of m.nestedType ?? []) fixMessage(nested, fqn, resolve);
}

/** protoc names the implicit message of `map<K, V> foo_bar` "FooBarEntry"; protobufjs names it "FooBar". */
function renameMapEntries(m: MessageProto): void {
  for (const nested of m.nestedType ?? []) {
    if (!nested.options?.mapEntry) continue;
    const field = (m.field ?? []).find((f) => f.typeName === nested.name || f.typeName?.endsWith(`.${nested.name}`));
    if (!field?.name) continue;
    const entry = `${upperCamel(field.name)}Entry`;
    nested.name = entry;
    field.typeName = entry;
  }
}

/** A proto3 `optional` field sits alone in a synthetic oneof named "_<field>"; protoc flags it. */
function markProto3Optionals(m: MessageProto): void {
  const oneofs = m.oneofDecl ?? [];
  for (const f of (m.field ?? []) as FieldProto[]) {
    if (f.oneofIndex === undefined || f.oneofIndex === null) continue;
    if (oneofs[f.oneofIndex]?.name === `_${f.name}`) {
      f.proto3Optional = true;
      if (f.options && Object.keys(f.options).length === 0) delete f.options;
    }
  }
}

/** Protobuf scoping: a relative name is looked up from the innermost scope outwards. */
function resolveType(ref: string, scope: string, types: Map<string, string>): string {
  if (ref.startsWith(".")) return ref.slice(1);
  for (let s = scope; s; s = s.includes(".") ? s.slice(0, s.lastIndexOf(".")) : "") {
    if (types.has(`${s}.${ref}`)) return `${s}.${ref}`;
  }
  if (types.has(ref)) return ref;
  throw new Error(`reflection: cannot resolve type ${ref} from ${scope}`);
}

const upperCamel = (snake: string) => snake.split("_").map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("");
const lowerCamel = (snake: string) => snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
