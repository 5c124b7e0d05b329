/**
 * Who must hear that sandbox rows were written: the endpoint cache (service/endpoint-cache.ts)
 * drops what it holds for them. Every statement that changes a `sandboxes` row reports the ids
 * it changed here, after the statement returned, so no state change the control plane makes or
 * learns (pause, kill, expiry, host loss, reconciliation) leaves a cached endpoint behind.
 * Hearing a write that a rollback later undid only costs a look-up.
 */
type Listener = (ids: readonly string[]) => void;

// Weak, so a control plane that is thrown away (tests start many) takes its cache with it.
const listeners = new Set<WeakRef<{ onSandboxWrite: Listener }>>();

export function listenToSandboxWrites(target: { onSandboxWrite: Listener }): void {
  listeners.add(new WeakRef(target));
}

export function sandboxesWritten(ids: readonly string[]): void {
  if (ids.length === 0) return;
  for (const ref of listeners) {
    const target = ref.deref();
    if (target) target.onSandboxWrite(ids);
    else listeners.delete(ref);
  }
}
