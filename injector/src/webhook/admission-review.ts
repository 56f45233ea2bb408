import type { JsonPatchOperation } from "./json-patch";
import { isJsonObject, type JsonObject, type JsonValue } from "../template/json-value";

/** The only AdmissionReview version the webhook speaks (admissionReviewVersions: [v1]). */
export const ADMISSION_REVIEW_API_VERSION = "admission.k8s.io/v1";

/** A body that is not an AdmissionReview v1 request; the webhook answers 400 with the message. */
export class AdmissionReviewError extends Error {
  override readonly name = "AdmissionReviewError";
}

/** The parts of an AdmissionReview v1 request the webhook reads. */
export interface AdmissionRequest {
  /** Echoed in the response; the API server matches the two by it. */
  readonly uid: string;
  /** `CREATE`, `UPDATE`, ... */
  readonly operation: string | undefined;
  /** `group/resource`, e.g. `/pods` for core pods. */
  readonly resource: string | undefined;
  readonly subResource: string | undefined;
  readonly namespace: string | undefined;
  /** The object being admitted (absent on DELETE). */
  readonly object: JsonValue | undefined;
}

/** What the webhook answers: always allowed, with a patch or warnings or neither. */
export interface AdmissionVerdict {
  readonly patch?: readonly JsonPatchOperation[];
  readonly warnings?: readonly string[];
}

/** Parses a request body as an AdmissionReview v1 request. Throws AdmissionReviewError saying what is wrong. */
export function parseAdmissionReview(body: string): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (error) {
    throw new AdmissionReviewError(`the body is not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(review) || review.kind !== "AdmissionReview" || review.apiVersion !== ADMISSION_REVIEW_API_VERSION) {
    const got = isJsonObject(review) ? `apiVersion ${JSON.stringify(review.apiVersion)}, kind ${JSON.stringify(review.kind)}` : typeof review;
    throw new AdmissionReviewError(`expected an AdmissionReview of apiVersion ${ADMISSION_REVIEW_API_VERSION}, got ${got}`);
  }
  const request = review.request;
  if (!isJsonObject(request)) throw new AdmissionReviewError("the AdmissionReview has no request");
  if (typeof request.uid !== "string" || request.uid === "") throw new AdmissionReviewError("the AdmissionReview request has no uid");
  const text = (value: JsonValue | undefined): string | undefined => (typeof value === "string" ? value : undefined);
  const resource = isJsonObject(request.resource) ? `${text(request.resource.group) ?? ""}/${text(request.resource.resource) ?? ""}` : undefined;
  return {
    uid: request.uid,
    operation: text(request.operation),
    resource,
    subResource: text(request.subResource),
    namespace: text(request.namespace),
    object: request.object ?? undefined,
  };
}

/** The AdmissionReview v1 response for `uid`: allowed, with the patch (base64 JSON) when there is one. */
export function admissionReviewResponse(uid: string, verdict: AdmissionVerdict): JsonObject {
  const response: JsonObject = { uid, allowed: true };
  if (verdict.patch && verdict.patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = Buffer.from(JSON.stringify(verdict.patch)).toString("base64");
  }
  if (verdict.warnings && verdict.warnings.length > 0) response.warnings = [...verdict.warnings];
  return { apiVersion: ADMISSION_REVIEW_API_VERSION, kind: "AdmissionReview", response };
}
