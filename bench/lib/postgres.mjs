// A throwaway PostgreSQL database per run for the ifmatch-on-PostgreSQL target,
// dropped at the end. Undefined when no server answers at 127.0.0.1:5432.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN = process.env.BENCH_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function postgres() {
  const admin = new pg.Client({ connectionString: ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  await admin.end();
  const created = [];
  const url = new URL(ADMIN);
  return {
    async createDatabase() {
      const name = `ifmatch_bench_${randomBytes(4).toString('hex')}`;
      const c = new pg.Client({ connectionString: ADMIN });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      created.push(name);
      return `postgres://${url.username ? `${url.username}@` : ''}${url.host}/${name}`;
    },
    async dropDatabase() {
      const c = new pg.Client({ connectionString: ADMIN });
      await c.connect();
      try {
        for (const name of created.splice(0)) {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        }
      } finally {
        await c.end();
      }
    },
  };
}
