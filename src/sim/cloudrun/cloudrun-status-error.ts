import { status } from '@grpc/grpc-js';

/** A failure the fake Cloud Run API answers as a real gRPC status (code + details). */
export class CloudRunStatusError extends Error {
  override readonly name = 'CloudRunStatusError';

  /** `code` is the gRPC status sent to the client; the message becomes the status details. */
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** INVALID_ARGUMENT with `message`. */
export function invalidArgument(message: string): CloudRunStatusError {
  return new CloudRunStatusError(status.INVALID_ARGUMENT, message);
}

/** NOT_FOUND in Cloud Run's wording for a missing service. */
export function serviceNotFound(project: string, location: string, service: string): CloudRunStatusError {
  return new CloudRunStatusError(
    status.NOT_FOUND,
    `Resource '${service}' of kind 'SERVICE' in region '${location}' in project '${project}' does not exist.`,
  );
}
