import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback HTTP proxy in front of `target` that cuts the answer to the first process Start
 * after `chunks` pieces of its body, as a dying proxy or network would (the socket closes
 * mid-stream). Every other request passes untouched, so an SDK's reconnect goes through.
 */
export async function streamCutter(target: string, chunks = 2) {
  let cuts = 0;
  const server = createServer((req, res) => {
    const upstream = new URL(req.url ?? "/", target);
    const out = request(
      upstream,
      { method: req.method, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const cut = cuts === 0 && (req.url ?? "").endsWith("/process.Process/Start");
        if (!cut) {
          answer.pipe(res);
          return;
        }
        cuts++;
        let pieces = 0;
        answer.on("data", (piece: Buffer) => {
          if (++pieces < chunks) {
            res.write(piece);
            return;
          }
          // Cut once this piece has reached the socket: destroying at once would drop the
          // pieces still buffered, and the client would see no answer at all.
          answer.destroy();
          res.write(piece, () => res.socket?.destroy());
        });
        answer.on("end", () => res.end());
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cuts: () => cuts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
