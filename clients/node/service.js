// Glue between the code protoc-gen-es generates (message schemas and a service descriptor) and
// @grpc/grpc-js, which wants a service definition with a path and (de)serialisers per method.
// Built from the descriptor rather than written out, so a method added to the proto is served by
// the next `make node-gen` with no change here.

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/**
 * The grpc-js service definition of a generated service descriptor: one entry per RPC, keyed by
 * the method's local (lowerCamelCase) name, (de)serialised with @bufbuild/protobuf.
 *
 * @param {import("@bufbuild/protobuf").DescService} service
 * @returns {grpc.ServiceDefinition}
 */
export function grpcServiceDefinition(service) {
  /** @type {grpc.ServiceDefinition} */
  const definition = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (message) => Buffer.from(toBinary(method.input, message)),
      requestDeserialize: (bytes) => fromBinary(method.input, bytes),
      responseSerialize: (message) => Buffer.from(toBinary(method.output, message)),
      responseDeserialize: (bytes) => fromBinary(method.output, bytes),
    };
  }
  return definition;
}

/**
 * A grpc-js client class for a generated service descriptor (`new Client(target, credentials)`).
 *
 * @param {import("@bufbuild/protobuf").DescService} service
 * @returns {grpc.ServiceClientConstructor}
 */
export function grpcClientClass(service) {
  return grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
}
