// Reads the google.rpc.ErrorInfo that helm-runner attaches to every error status (its reason is
// the machine-readable failure reason, see ErrorReason in proto/planton/helmrunner/v1).
import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { Metadata } from '@grpc/grpc-js';

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

export interface ErrorInfo {
  readonly reason: string;
  readonly domain: string;
}

/** The ErrorInfo of a grpc-js error, or undefined when it carries none. */
export function errorInfoOf(err: unknown): ErrorInfo | undefined {
  const metadata = (err as { metadata?: Metadata } | null)?.metadata;
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  for (const any of statusDetails(raw)) {
    if (any.typeUrl === ERROR_INFO_TYPE) return decodeErrorInfo(any.value);
  }
  return undefined;
}

interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

// google.rpc.Status: 1 code, 2 message, 3 repeated google.protobuf.Any details.
function statusDetails(bytes: Uint8Array): AnyMessage[] {
  const r = new BinaryReader(bytes);
  const details: AnyMessage[] = [];
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 3) details.push(decodeAny(r.bytes()));
    else r.skip(wireType);
  }
  return details;
}

// google.protobuf.Any: 1 type_url, 2 value.
function decodeAny(bytes: Uint8Array): AnyMessage {
  const r = new BinaryReader(bytes);
  const out: AnyMessage = { typeUrl: '', value: new Uint8Array() };
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1) out.typeUrl = r.string();
    else if (field === 2) out.value = r.bytes();
    else r.skip(wireType);
  }
  return out;
}

// google.rpc.ErrorInfo: 1 reason, 2 domain, 3 metadata (ignored).
function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const r = new BinaryReader(bytes);
  let reason = '';
  let domain = '';
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1) reason = r.string();
    else if (field === 2) domain = r.string();
    else r.skip(wireType);
  }
  return { reason, domain };
}
