import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { errorInfoOf } from './error-info.js';

function statusWith(details: { typeUrl: string; value: Uint8Array }[]): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).int32(5).uint32(18).string('chart not found');
  for (const d of details) {
    w.uint32(26).fork().uint32(10).string(d.typeUrl).uint32(18).bytes(d.value).join();
  }
  return Buffer.from(w.finish());
}

function errorInfo(reason: string, domain: string): Uint8Array {
  return new BinaryWriter().uint32(10).string(reason).uint32(18).string(domain).finish();
}

function errorWith(bin: Buffer | undefined): { metadata: Metadata } {
  const metadata = new Metadata();
  if (bin) metadata.set('grpc-status-details-bin', bin);
  return { metadata };
}

describe('errorInfoOf', () => {
  it('reads the reason and domain of a runner error', () => {
    const err = errorWith(
      statusWith([
        { typeUrl: 'type.googleapis.com/google.rpc.DebugInfo', value: new Uint8Array([10, 1, 120]) },
        { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: errorInfo('CHART_NOT_FOUND', 'helm-runner.helm.project-planton.org') },
      ]),
    );
    expect(errorInfoOf(err)).toEqual({ reason: 'CHART_NOT_FOUND', domain: 'helm-runner.helm.project-planton.org' });
  });

  it.each([
    ['an error without details', errorWith(undefined)],
    ['a status without ErrorInfo', errorWith(statusWith([]))],
    ['something that is not a gRPC error', new Error('plain')],
    ['null', null],
  ])('returns undefined for %s', (_name, err) => {
    expect(errorInfoOf(err)).toBeUndefined();
  });
});
