// OCI image spec "ChainID": ChainID(L0) = DiffID(L0);
// ChainID(L0|..|Ln) = sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln)).
// The chain ID names a layer together with everything under it: the store's volume key.
import { InvalidImageError } from '../errors/index.js';
import { digestOf, digestProblem } from './digest.js';

export function chainIDs(diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  diffIDs.forEach((diffID, i) => {
    const problem = digestProblem(diffID);
    if (problem) throw new InvalidImageError(`diffID ${i} ${JSON.stringify(diffID)} ${problem}`);
    out.push(i === 0 ? diffID : digestOf(`${out[i - 1]} ${diffID}`));
  });
  return out;
}
