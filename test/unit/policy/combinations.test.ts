import { everyCompiledPolicy } from '../../../src/policy';
import { allPolicies } from '../../helpers/reference-model';

// The build's compile cache and the benchmark make every program from this
// list; the reference model enumerates the same space on its own.
test("everyCompiledPolicy is exactly the reference model's 192 policies", () => {
  const key = (p: object): string => JSON.stringify(p, Object.keys(p).sort());
  const ours = everyCompiledPolicy().map(key).sort();
  expect(ours).toHaveLength(192);
  expect(new Set(ours).size).toBe(192);
  expect(ours).toEqual(allPolicies().map(key).sort());
});
