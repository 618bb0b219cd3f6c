// Whether Redis answers at 127.0.0.1:6379. Required in CI (CI=true: unreachable
// is a failing test); elsewhere the Redis suites skip with a message.
import { connect } from 'node:net';
import { describe, it } from 'vitest';

function probe(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(6379, '127.0.0.1');
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve('timed out');
    });
    socket.on('error', (error) => resolve(error.message));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(String(data).startsWith('+PONG') ? undefined : `unexpected answer ${String(data)}`);
    });
    socket.write('PING\r\n');
  });
}

export async function describeRedis(name: string, body: () => void): Promise<void> {
  const problem = await probe();
  if (problem === undefined) describe(name, body);
  else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Redis (required in CI)', () => {
        throw new Error(`Redis unreachable at 127.0.0.1:6379: ${problem}`);
      });
    });
  } else {
    console.warn(
      `skipping "${name}": Redis unreachable at 127.0.0.1:6379 (${problem}); start redis-server to run it`,
    );
    describe.skip(name, body);
  }
}
