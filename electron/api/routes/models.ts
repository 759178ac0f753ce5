import type { FastifyInstance } from 'fastify';
import { capabilitiesOf } from '../media-parts';
import { apiModelIds } from '../model-ids';
import { modelObject } from '../responses';
import type { RouteContext } from './context';

/** GET /v1/models and /v1/models/{id}: the library, each model with what it takes besides text (`capabilities`). */
export function modelRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get('/v1/models', async () => {
    const split = context.split();
    return {
      object: 'list',
      data: [
        ...[...apiModelIds(context.library.snapshot().models)].map(([id, model]) =>
          modelObject(id, model, capabilitiesOf(model, context.engines())),
        ),
        ...(split ? [{ id: split.id, object: 'model', created: 0, owned_by: 'freehold-split' }] : []),
      ],
    };
  });

  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const { id, model } = context.resolve(request.params['*']);
    return modelObject(id, model, capabilitiesOf(model, context.engines()));
  });
}
