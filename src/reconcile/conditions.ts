// Condition types and reasons of a HelmRelease, as constants, and the only code that edits the
// conditions list. Ready is computed in one place (summarize) from what the reconcile did.
import type { Condition, ConditionStatus } from '../api/helm-release.js';

export const ConditionType = {
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
  Released: 'Released',
  Remediated: 'Remediated',
  Drifted: 'Drifted',
  TestSuccess: 'TestSuccess',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  InstallSucceeded: 'InstallSucceeded',
  InstallFailed: 'InstallFailed',
  UpgradeSucceeded: 'UpgradeSucceeded',
  UpgradeFailed: 'UpgradeFailed',
  RollbackSucceeded: 'RollbackSucceeded',
  RollbackFailed: 'RollbackFailed',
  UninstallSucceeded: 'UninstallSucceeded',
  UninstallFailed: 'UninstallFailed',
  TestSucceeded: 'TestSucceeded',
  TestFailed: 'TestFailed',
  Unlocked: 'Unlocked',
  UnlockFailed: 'UnlockFailed',
  DriftDetected: 'DriftDetected',
  DriftCorrected: 'DriftCorrected',
  DriftCorrectionFailed: 'DriftCorrectionFailed',
  NoDrift: 'NoDrift',
  InSync: 'InSync',
  Progressing: 'Progressing',
  ReleaseLocked: 'ReleaseLocked',
  RetriesExhausted: 'RetriesExhausted',
  InvalidSpec: 'InvalidSpec',
  InsecureRepository: 'InsecureRepository',
  ValuesSourceNotFound: 'ValuesSourceNotFound',
  InvalidValues: 'InvalidValues',
  AuthSecretNotFound: 'AuthSecretNotFound',
  DependencyNotReady: 'DependencyNotReady',
  RunnerUnavailable: 'RunnerUnavailable',
  ChartNotFound: 'ChartNotFound',
  VersionNotFound: 'VersionNotFound',
  RepositoryUnreachable: 'RepositoryUnreachable',
  AuthFailed: 'AuthFailed',
  InvalidChart: 'InvalidChart',
  RenderFailed: 'RenderFailed',
  RenderLimitExceeded: 'RenderLimitExceeded',
  ReleaseOwnedByOther: 'ReleaseOwnedByOther',
  ReleaseAdopted: 'ReleaseAdopted',
  PreviousReleaseUninstalled: 'PreviousReleaseUninstalled',
  PreviousReleaseLeft: 'PreviousReleaseLeft',
  CrossNamespaceRefused: 'CrossNamespaceRefused',
  ServiceAccountRequired: 'ServiceAccountRequired',
  SchemaValidationFailed: 'SchemaValidationFailed',
  Forbidden: 'Forbidden',
  KubernetesApiError: 'KubernetesApiError',
  Timeout: 'Timeout',
  RunnerError: 'RunnerError',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface ConditionInput {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/**
 * Returns `conditions` with `input` set for `generation`. lastTransitionTime changes only when
 * the status changes, so re-setting an unchanged condition leaves the list equal.
 */
export function setCondition(
  conditions: readonly Condition[],
  input: ConditionInput,
  generation: number,
  nowIso: string,
): Condition[] {
  const prev = conditions.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime: prev && prev.status === input.status ? prev.lastTransitionTime : nowIso,
    observedGeneration: generation,
  };
  const out = conditions.filter((c) => c.type !== input.type);
  out.push(next);
  return out.sort((a, b) => order(a.type) - order(b.type));
}

/** Removes a condition (kstatus: abnormal-true conditions are absent when not in effect). */
export function removeCondition(conditions: readonly Condition[], type: ConditionType): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

const ORDER: readonly string[] = Object.values(ConditionType);
function order(type: string): number {
  const i = ORDER.indexOf(type);
  return i < 0 ? ORDER.length : i;
}
