// Starts `r1 serve` on a free loopback port with a tiny random-weight test model (made in a
// temporary folder), for the server tests and the load test. Every wait has a deadline.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function makeTestModel(r1) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "r1-serve-"));
  const model = path.join(dir, "tiny.gguf");
  const r = spawnSync(r1, ["make-test-model", "-q", "--arch", "deepseek_v3", "--type", "Q8_0", model], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error("make-test-model failed: " + r.stderr);
  return { dir, model };
}

// Resolves { proc, port, baseURL, log(), stop() } once the server prints its address.
export function startServer(r1, model, args = [], timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(r1, ["serve", model, "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error("r1 serve did not start:\n" + log));
    }, timeoutMs);
    proc.stderr.on("data", (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/([^:\s]+):(\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({
          proc,
          port,
          baseURL: `http://127.0.0.1:${port}`,
          log: () => log,
          // SIGTERM; resolves with the exit code (or "timeout" after the deadline, then SIGKILL).
          stop: (ms = 30000) =>
            new Promise((res) => {
              if (proc.exitCode !== null) return res(proc.exitCode);
              const t = setTimeout(() => {
                proc.kill("SIGKILL");
                res("timeout");
              }, ms);
              proc.on("exit", (code) => {
                clearTimeout(t);
                res(code);
              });
              proc.kill("SIGTERM");
            }),
        });
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`r1 serve exited (${code}):\n` + log));
    });
  });
}

// Reads a Prometheus gauge or counter value from /metrics text.
export function metric(text, name) {
  const m = text.match(new RegExp("^" + name + " ([0-9.e+-]+)$", "m"));
  return m ? Number(m[1]) : NaN;
}
