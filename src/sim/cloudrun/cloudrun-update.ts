import { status } from '@grpc/grpc-js';
import type { RevisionTemplateMessage, ServiceMessage, UpdateServiceRequestMessage } from './cloudrun-messages.js';
import { stableJson } from './cloudrun-service-status.js';
import { CloudRunStatusError, invalidArgument } from './cloudrun-status-error.js';

/** What an UpdateService request changes. */
export interface ServiceChange {
  /** Fields to assign onto the stored service. */
  readonly fields: Partial<ServiceMessage>;
  /** The service as it would be after the update (what validate_only returns). */
  readonly service: ServiceMessage;
  /** Spec (not metadata) changed: generation is bumped. */
  readonly specChanged: boolean;
  /** The template changed: a new revision is created. */
  readonly templateChanged: boolean;
}

/** Writable Service fields that are metadata (no new generation) vs spec. */
const METADATA_FIELDS = ['description', 'labels', 'annotations', 'client', 'clientVersion'] as const;
const SPEC_FIELDS = [
  'template',
  'traffic',
  'ingress',
  'launchStage',
  'binaryAuthorization',
  'scaling',
  'invokerIamDisabled',
  'defaultUriDisabled',
  'iapEnabled',
  'customAudiences',
] as const;
const WRITABLE = new Set<string>([...METADATA_FIELDS, ...SPEC_FIELDS]);
/** v2 rejects annotations in these namespaces (they belong to the v1 Knative surface). */
const RESERVED_ANNOTATION_PREFIXES = ['run.googleapis.com/', 'cloud.googleapis.com/', 'serving.knative.dev/', 'autoscaling.knative.dev/'];

const camel = (snake: string): string => snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

function reservedAnnotation(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  return Object.keys(annotations ?? {}).find((k) => RESERVED_ANNOTATION_PREFIXES.some((p) => k.startsWith(p)));
}

function validateTemplate(
  service: string,
  template: RevisionTemplateMessage | null | undefined,
  revisionExists: (id: string) => boolean,
): void {
  if (template === null || template === undefined) throw invalidArgument('service.template is required');
  if (template.containers.length === 0) throw invalidArgument('service.template.containers: at least one container is required');
  template.containers.forEach((c, i) => {
    if (c.image === '') throw invalidArgument(`service.template.containers[${i}].image is required`);
  });
  const reserved = reservedAnnotation(template.annotations);
  if (reserved !== undefined) throw invalidArgument(`service.template.annotations: "${reserved}" is not supported in Cloud Run API v2`);
  if (template.revision !== '') {
    if (!template.revision.startsWith(`${service}-`))
      throw invalidArgument(`service.template.revision "${template.revision}" must start with "${service}-"`);
    if (revisionExists(template.revision))
      throw new CloudRunStatusError(
        status.ALREADY_EXISTS,
        `Revision named '${template.revision}' with different configuration already exists.`,
      );
  }
}

/**
 * Validates an UpdateServiceRequest against the stored service and works out what it changes.
 * Without an update_mask every writable field is replaced (a missing one is cleared); with one,
 * only the listed top-level fields are. Output-only fields in the request are ignored. A stale
 * non-empty etag is ABORTED.
 */
export function applyUpdate(
  stored: ServiceMessage,
  req: UpdateServiceRequestMessage,
  canonical: (s: object) => ServiceMessage,
  revisionExists: (id: string) => boolean,
): ServiceChange {
  if (req.service === null) throw invalidArgument('service is required');
  const incoming = canonical(req.service);
  if (incoming.etag !== undefined && incoming.etag !== '' && incoming.etag !== stored.etag) {
    throw new CloudRunStatusError(status.ABORTED, `etag ${incoming.etag} does not match the current etag ${stored.etag ?? ''}`);
  }
  const paths = (req.updateMask?.paths ?? []).map((p) => camel(p.split('.')[0] ?? ''));
  const unknown = paths.find((p) => !WRITABLE.has(p));
  if (unknown !== undefined) throw invalidArgument(`update_mask: "${unknown}" is not a writable Service field`);
  const fieldsToCopy = paths.length === 0 ? [...WRITABLE] : [...new Set(paths)];
  const fields: Partial<ServiceMessage> = {};
  for (const f of fieldsToCopy) fields[f] = incoming[f];
  const service = { ...stored, ...fields };
  const serviceId = stored.name.slice(stored.name.lastIndexOf('/') + 1);
  const reserved = reservedAnnotation(service.annotations);
  if (reserved !== undefined) throw invalidArgument(`service.annotations: "${reserved}" is not supported in Cloud Run API v2`);
  const templateChanged = stableJson(service.template) !== stableJson(stored.template);
  if (templateChanged) validateTemplate(serviceId, service.template, revisionExists);
  const specChanged = SPEC_FIELDS.some((f) => stableJson(service[f]) !== stableJson(stored[f]));
  return { fields, service, specChanged, templateChanged };
}
