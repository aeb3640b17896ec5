/**
 * What the supervisor does with each signal it receives as PID 1, and the listener wiring.
 *
 * Stop requests reach nats-server as SIGINT: nats-server treats SIGINT and SIGTERM alike (a graceful
 * shutdown), but 2.10 exits 1 after SIGTERM and 0 after SIGINT, and a clean stop should exit 0 on
 * every supported version. With lame duck on, the first SIGTERM becomes SIGUSR2 (lame-duck mode: the
 * server hands its clients off and then exits by itself).
 */

/** Signals a PID 1 supervisor must handle; without a listener Deno dies on them as PID 1. */
export const HANDLED_SIGNALS: readonly Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGQUIT",
  "SIGHUP",
  "SIGUSR1",
  "SIGUSR2",
];

export type SignalAction =
  | { kind: "stop"; send: Deno.Signal }
  | { kind: "forward"; send: Deno.Signal };

/** Decides what a received signal does: stop nats-server (and then exit) or pass it on. */
export function decideSignal(
  received: Deno.Signal,
  options: { lameDuck: boolean; stopping: boolean },
): SignalAction {
  switch (received) {
    case "SIGTERM":
      return { kind: "stop", send: options.lameDuck && !options.stopping ? "SIGUSR2" : "SIGINT" };
    case "SIGINT":
      return { kind: "stop", send: "SIGINT" };
    case "SIGQUIT":
      return { kind: "stop", send: "SIGQUIT" };
    default:
      return { kind: "forward", send: received };
  }
}

/**
 * Routes every handled signal to `onSignal`.
 * @returns a function that removes the listeners.
 */
export function listenForSignals(onSignal: (signal: Deno.Signal) => void): () => void {
  const listeners = HANDLED_SIGNALS.map((signal) => {
    const listener = () => onSignal(signal);
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
