import type { FastifyInstance } from 'fastify';
import type { DocumentStore } from '../store/types.js';
import { problem, sendProblem } from './problem.js';

/** /healthz: the process answers (liveness) and the store answers (readiness). */
export async function healthRoutes(app: FastifyInstance, store: DocumentStore): Promise<void> {
  const started = Date.now();
  app.get(
    '/healthz',
    {
      schema: { summary: 'Liveness and storage readiness', tags: ['operations'] },
      config: { access: 'public' },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      const ready = await store.ready().catch(() => false);
      if (!ready) {
        return sendProblem(
          reply,
          problem(503, 'storage-unavailable', `The ${store.kind} store is not ready`, {
            storage: { kind: store.kind, ready: false },
          }),
        );
      }
      return reply.header('content-type', 'application/json').send(
        JSON.stringify({
          status: 'ok',
          storage: { kind: store.kind, ready: true },
          uptimeSeconds: Math.floor((Date.now() - started) / 1000),
        }),
      );
    },
  );
}
