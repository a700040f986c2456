import * as assert from "assert";
import * as docker from "@pulumi/docker";
import { PersistentStack } from "../../components";
import { recordProgram } from "../helpers/pulumiMocks";
import { types } from "../helpers/stacks";

describe("composition in a larger program", () => {
    it("passes a consumer's docker provider to every child", async () => {
        const rec = await recordProgram(() => {
            const remote = new docker.Provider("remote", { host: "ssh://deploy@docker-host" });
            new PersistentStack(
                "app",
                {
                    volumes: { data: {} },
                    containers: { web: { image: "nginx:1.27", mounts: [{ type: "volume", volume: "data", target: "/d" }] } },
                },
                { providers: [remote] },
            );
        });
        const provider = rec.resources.find((r) => r.type === "pulumi:providers:docker")!;
        const children = rec.resources.filter((r) => r.type.startsWith("docker:"));
        assert.strictEqual(children.length, 4);
        for (const child of children) {
            assert.ok(child.options.provider?.startsWith(provider.urn), `${child.name} uses the remote provider`);
        }
    });

    it("lets two stacks live side by side with their own prefixes", async () => {
        const rec = await recordProgram(() => {
            new PersistentStack("blue", { namePrefix: "blue", volumes: { data: {} } });
            new PersistentStack("green", { namePrefix: "green", volumes: { data: {} } });
        });
        const names = rec.resources.filter((r) => r.type === types.volume).map((r) => r.inputs.name);
        assert.deepStrictEqual(names.sort(), ["blue-data", "green-data"]);
        assert.strictEqual(new Set(rec.resources.map((r) => r.urn)).size, rec.resources.length);
    });

    it("refuses two stacks that would manage the same Docker objects", async () => {
        let error: Error | undefined;
        await recordProgram(() => {
            new PersistentStack("blue", { volumes: { data: {} } });
            try {
                new PersistentStack("green", { volumes: { data: {} } });
            } catch (e) {
                error = e as Error;
            }
        });
        assert.match(
            error?.message ?? "",
            /PersistentStack "green": Docker volume persistent-test-data is already managed by PersistentStack "blue" on the same engine in this program; give one of them its own namePrefix/,
        );
    });

    it("uses a local image without pulling when pull is false", async () => {
        const rec = await recordProgram(
            () => new PersistentStack("app", { containers: { job: { image: "pds-test/busybox:latest", pull: false } } }),
        );
        assert.strictEqual(rec.resources.filter((r) => r.type === types.image).length, 0);
        assert.strictEqual(rec.resources.find((r) => r.type === types.container)!.inputs.image, "pds-test/busybox:latest");
    });

    it("never creates or deletes an external volume, but mounts it", async () => {
        const rec = await recordProgram(
            () =>
                new PersistentStack("app", {
                    volumes: { legacy: { external: true, name: "old-data" } },
                    containers: { app: { image: "a:1", pull: false, mounts: [{ type: "volume", volume: "legacy", target: "/d" }] } },
                }),
        );
        assert.strictEqual(rec.resources.filter((r) => r.type === types.volume).length, 0);
        assert.strictEqual(rec.resources.find((r) => r.type === types.container)!.inputs.mounts[0].source, "old-data");
    });

    it("exposes the component's outputs", async () => {
        const rec = await recordProgram(() => {
            const s = new PersistentStack("app", {
                volumes: { data: {}, old: { external: true, name: "old-data" } },
                containers: { web: { image: "a:1", pull: false } },
            });
            return { volumeNames: s.volumeNames, containerNames: s.containerNames, networkName: s.networkName };
        });
        assert.deepStrictEqual(rec.outputs, {
            volumeNames: { data: "persistent-test-data", old: "old-data" },
            containerNames: { web: "persistent-test-web" },
            networkName: "persistent-test-net",
        });
    });
});
