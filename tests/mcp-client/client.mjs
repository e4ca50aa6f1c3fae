// Drives `apiary mcp` with the official MCP TypeScript SDK client (a real MCP client, not written here), and prints
// one JSON document with what it saw, for tests/Apiary.Cli.Tests/McpServerTests.cs to check.
//
// Usage: node client.mjs --dotnet DOTNET --program PATH/apiary.dll --home HOME [--agent coder]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    dotnet: { type: "string", default: "dotnet" },
    program: { type: "string" },
    home: { type: "string" },
    agent: { type: "string", default: "coder" },
  },
});
if (!values.program || !values.home) {
  console.error("usage: node client.mjs --dotnet DOTNET --program PATH/apiary.dll --home HOME [--agent coder]");
  process.exit(2);
}

const transport = new StdioClientTransport({
  command: values.dotnet,
  args: [values.program, "mcp", "--agent", values.agent, "--home", values.home],
  env: { ...process.env, DOTNET_NOLOGO: "1", DOTNET_CLI_TELEMETRY_OPTOUT: "1" },
  stderr: "inherit",
});
const client = new Client({ name: "apiary-test-client", version: "1.0.0" });
await client.connect(transport);

const text = (result) => (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
const call = async (name, args) => {
  const result = await client.callTool({ name, arguments: args });
  return { isError: result.isError === true, text: text(result) };
};

// A call the server refuses outright (an unknown tool) is a JSON-RPC error, which the SDK throws.
const attempt = async (name, args) => {
  try {
    return { rejected: false, ...(await call(name, args)) };
  } catch (error) {
    return { rejected: true, isError: true, text: String(error?.message ?? error) };
  }
};

const listed = await client.listTools();
const report = {
  server: client.getServerVersion(),
  tools: listed.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema })),
  calls: {
    echo: await call("exec", { command: "echo", args: ["hello from mcp"] }),
    denied: await call("exec", { command: "rm", args: ["-rf", "/"] }),
    pending: await call("exec", { command: "apt-get", args: ["install", "-y", "cowsay"] }),
    traversal: await call("read_file", { path: "../../etc/passwd" }),
    write: await call("write_file", { path: "src/hello.txt", content: "written over MCP\n" }),
    read: await call("read_file", { path: "src/hello.txt" }),
    list: await call("list_dir", { path: "src" }),
    badArguments: await call("exec", { args: ["no command"] }),
    // Attacks: a NUL that would add bubblewrap options; a search path that swaps an allowed program for the agent's;
    // git told to run a program of the agent's; more time than the template gives.
    nulEnv: await call("exec", { command: "ls", args: ["/hostroot"], env: { X: "a\u0000--bind\u0000/\u0000/hostroot" } }),
    pathHijack: await call("exec", { command: "cat", args: ["notes.txt"], env: { PATH: "/workspace/bin:/usr/bin" } }),
    gitExternalDiff: await call("exec", { command: "git", args: ["diff"], env: { GIT_EXTERNAL_DIFF: "/workspace/evil.sh" } }),
    raisedTimeout: await call("exec", { command: "sleep", args: ["1"], timeout_seconds: 3600 }),
    // A NUL in an argument is refused, never removed; in a file's content it is data, kept byte for byte.
    nulArg: await call("exec", { command: "printf", args: ["%s", "a\u0000b"] }),
    // A policy pattern that backtracks catastrophically on this argument (the test's policies/stall.yaml) denies, on a timeout.
    regexStall: await call("exec", { command: "echo", args: ["a".repeat(42) + "!"] }),
    nulWrite: await call("write_file", { path: "src/nul.txt", content: "a\u0000b" }),
    nulRead: await call("read_file", { path: "src/nul.txt" }),
    // A secret's value in the clear (here base64-encoded), where the record and an approver would see it.
    secretLeak: await call("exec", { command: "echo", args: [Buffer.from("tok-Mcp/Secret+Value=517").toString("base64")] }),
    // The control plane's own kinds and tools, which the built-in rule 'control-plane' allows when no rule names them:
    // never reachable from outside, or an external agent could start agents or spend model budget unasked.
    startAgent: await attempt("start", { agent: "manager", task: "work for me" }),
    modelCall: await attempt("model_call", { model: "local/llama3.2" }),
    spawnAgent: await attempt("request_spawn", { name: "evil", from_draft: "." }),
  },
};

await client.close();
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
