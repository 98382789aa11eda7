// Connects what the reconciler reports (ReconcileObserver) to the Prometheus metrics.
import type { ReconcileObserver } from '../reconcile/reconciler.js';
import type { Metrics } from './metrics.js';

export function reconcileObserver(metrics: Metrics): ReconcileObserver {
  return {
    status: (namespace, name, verdict) => metrics.setReleaseStatus(namespace, name, verdict),
    action: (action, outcome, seconds) => {
      metrics.actions.inc({ action, outcome });
      metrics.actionDuration.observe({ action, outcome }, seconds);
    },
    driftDetected: (namespace, name) => metrics.driftDetected.inc({ namespace, name }),
    driftCorrected: (namespace, name) => metrics.driftCorrected.inc({ namespace, name }),
    forget: (namespace, name) => metrics.deleteRelease(namespace, name),
  };
}
