import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** A grpc.health.v1 Check of `service`, without credentials: its status, or the gRPC error. */
export function healthCheck(address: string, service: string): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const check = healthService.Check!;
  return new Promise<string>((resolve, reject) =>
    client.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service }, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(String((response as { status: unknown }).status)),
    ),
  ).finally(() => client.close());
}
