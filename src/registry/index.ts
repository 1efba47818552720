// Placeholder until the registry client lands (issue 3): image/ dispatches docker:// here.
import type { ImageSource, SourceOptions } from '../image/types.js';
import { InvalidArgumentError } from '../errors/index.js';

export function registrySource(source: string, _opts: SourceOptions): ImageSource {
  throw new InvalidArgumentError(`${source}: registry sources are not supported yet`);
}
