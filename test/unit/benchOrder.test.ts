// The bench alternates its variants in every phase, whatever their number:
// each runs first in turn, and two variants swap places every round.
import { strict as assert } from "assert";
import { roundOrder } from "../../bench/stats";

describe("bench round order", () => {
    for (const n of [2, 3, 5]) {
        it(`puts each of ${n} variants first once within ${n} rounds, each round a permutation`, () => {
            const variants = Array.from({ length: n }, (_, i) => `v${i}`);
            const rounds = Array.from({ length: n }, (_, r) => roundOrder(variants, r));
            for (const order of rounds) assert.deepEqual([...order].sort(), variants);
            assert.deepEqual(
                rounds.map((o) => o[0]),
                variants,
            );
        });
    }

    it("runs two variants in the opposite order in consecutive rounds", () => {
        assert.deepEqual(roundOrder(["seed", "component"], 0), ["seed", "component"]);
        assert.deepEqual(roundOrder(["seed", "component"], 1), ["component", "seed"]);
        assert.deepEqual(roundOrder(["seed", "component"], 2), ["seed", "component"]);
    });
});
