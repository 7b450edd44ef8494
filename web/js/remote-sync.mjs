// Sync with a served log (`schemalog serve`): when to run a round. The round
// itself is Python's (pkg/schemalog/browser/attach.py: push local writes, pull
// others', merge offline writes with the tab's strategy); this module only
// decides when. An EventSource on the service's stream (GET /logs/NAME/stream)
// is the wake-up: it reconnects by itself, says when the connection opens and
// fails, and announces records written by others. Its records are not used:
// the round reads and verifies them through the store adapter. Rounds run one
// at a time; a wake-up during a round asks for one more after it. While the
// service is away or local writes wait, a timer retries every `retryMs`.

/**
 * @param {{server: string, log: string, round: () => Promise<any>, onRound: (status: any) => void,
 *          onError: (error: any) => void, retryMs?: number}} options
 * @returns {{kick: () => void, close: () => void}}
 */
export function openRemoteSync({ server, log, round, onRound, onError, retryMs = 2000 }) {
  let running = false;
  let again = false;
  let closed = false;
  let last = null;

  async function run() {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        last = await round();
        onRound(last);
      } while (again && !closed);
    } catch (error) {
      onError(error);
    } finally {
      running = false;
    }
  }

  const stream = new EventSource(`${server.replace(/\/+$/, "")}/logs/${encodeURIComponent(log)}/stream`);
  stream.addEventListener("open", () => run());
  stream.addEventListener("records", () => run());
  stream.addEventListener("error", () => run()); // the round finds out whether the service is away
  const timer = setInterval(() => {
    const remote = last?.remote;
    if (!remote || remote.state !== "online" || remote.pending > 0) run();
  }, retryMs);

  return {
    kick: () => run(),
    close: () => {
      closed = true;
      clearInterval(timer);
      stream.close();
    },
  };
}
