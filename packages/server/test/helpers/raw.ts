// Raw HTTP/1.1 over a socket: for what fetch hides or normalizes (304 header
// sets, `..` in paths, bodies streamed while the server answers).
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Every header line as sent, lower-cased names. */
  headerNames: string[];
  body: Buffer;
  raw: Buffer;
}

/** Sends `request` bytes, reads until the server closes or `idleMs` passes without data. */
export function rawRequest(
  port: number,
  request: string | Buffer | ((socket: import('node:net').Socket) => void),
  idleMs = 300,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`no complete response: ${JSON.stringify(raw.toString())}`));
        return;
      }
      const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      const headerNames: string[] = [];
      for (const line of lines) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        headerNames.push(name);
        headers[name] = line.slice(i + 1).trim();
      }
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers,
        headerNames,
        body: raw.subarray(split + 4),
        raw,
      });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      arm();
    });
    socket.on('end', finish);
    socket.on('error', (error) => {
      if (chunks.length > 0) finish();
      else reject(error);
    });
    socket.on('connect', () => {
      if (typeof request === 'function') request(socket);
      else socket.write(request);
      arm();
    });
  });
}
