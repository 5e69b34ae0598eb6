// VS Code client for the usher Kubernetes YAML language server.
//
// Starts `usher lsp` over stdio for YAML documents, hands the `usher.*`
// settings (minus the client-only `path` and `trace`) to the server as
// `initializationOptions`, answers `workspace/configuration` for the `usher`
// section with the same shape, pushes `workspace/didChangeConfiguration` when
// they change, and forwards file events for `.usher.yaml` and YAML files.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  ConfigurationParams,
  DidChangeConfigurationNotification,
  Executable,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

const SECTION = "usher";
const INSTALL_HINT =
  'Install it with "cargo install --path server" from the usher repository, or set "usher.path" to the binary.';

/** Keys of the `usher` section that the server understands. */
const SERVER_KEYS = [
  "kubernetesVersion",
  "crds",
  "unknownFields",
  "missingSchemas",
  "policies",
  "knowledge",
  "cluster",
] as const;

type ServerSettings = { [key: string]: unknown };

let output: vscode.OutputChannel;
let client: LanguageClient | undefined;
let clientDisposables: vscode.Disposable[] = [];
// Start/stop/restart run one at a time, in order.
let queue: Promise<void> = Promise.resolve();

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel("Usher");
  context.subscriptions.push(output);

  context.subscriptions.push(
    vscode.commands.registerCommand("usher.restartServer", () =>
      enqueue(async () => {
        await stopClient();
        await startClient();
      }),
    ),
    vscode.commands.registerCommand("usher.showOutput", () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.path`)) {
        output.appendLine("usher.path changed; restarting the language server.");
        void enqueue(async () => {
          await stopClient();
          await startClient();
        });
      }
    }),
  );

  void enqueue(startClient);
}

export function deactivate(): Thenable<void> {
  return enqueue(stopClient);
}

function enqueue(task: () => Promise<void>): Promise<void> {
  queue = queue.then(task).catch((error: unknown) => {
    output.appendLine(`Unexpected error: ${describe(error)}`);
  });
  return queue;
}

/** The settings sent to the server: the `usher` section without client-only keys or unset values. */
function serverSettings(scope?: vscode.Uri): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const settings: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    // Only values the user set: defaults must not override the project's .usher.yaml.
    const inspected = config.inspect<unknown>(key);
    const value =
      inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    if (value === undefined || value === null || value === "") {
      continue;
    }
    // Round-trip through JSON to drop VS Code's proxies.
    settings[key] = JSON.parse(JSON.stringify(value));
  }
  return settings;
}

async function startClient(): Promise<void> {
  const configured = (vscode.workspace.getConfiguration(SECTION).get<string>("path") ?? "").trim() || "usher";
  const command = resolveBinary(configured);
  if (command === undefined) {
    const message = `Usher: the language server binary "${configured}" was not found. ${INSTALL_HINT}`;
    output.appendLine(message);
    void reportStartFailure(message);
    return;
  }
  output.appendLine(`Starting ${command} lsp`);

  const executable: Executable = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
    options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
  };
  const serverOptions: ServerOptions = { run: executable, debug: executable };

  const watchers = [
    vscode.workspace.createFileSystemWatcher("**/.usher.yaml"),
    vscode.workspace.createFileSystemWatcher("**/*.{yaml,yml}"),
  ];

  let languageClient: LanguageClient;
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "yaml" },
      { scheme: "untitled", language: "yaml" },
    ],
    initializationOptions: serverSettings(),
    synchronize: {
      configurationSection: SECTION,
      fileEvents: watchers,
    },
    outputChannel: output,
    traceOutputChannel: output,
    middleware: {
      workspace: {
        // Answer pulls of the `usher` section with exactly what initializationOptions carried.
        configuration: async (params: ConfigurationParams, token, next) => {
          const defaults = await next(params, token);
          if (!Array.isArray(defaults)) {
            return defaults;
          }
          return params.items.map((item, index) => {
            if (item.section !== SECTION) {
              return defaults[index];
            }
            const scope = item.scopeUri ? languageClient.protocol2CodeConverter.asUri(item.scopeUri) : undefined;
            return serverSettings(scope);
          });
        },
        // Push `{ settings: { usher: {...} } }` with the same shape as the pull.
        didChangeConfiguration: async (sections, next) => {
          if (sections === undefined || !sections.includes(SECTION)) {
            return next(sections);
          }
          await languageClient.sendNotification(DidChangeConfigurationNotification.type, {
            settings: { [SECTION]: serverSettings() },
          });
        },
      },
    },
  };

  languageClient = new LanguageClient(SECTION, "Usher", serverOptions, clientOptions);
  client = languageClient;
  clientDisposables = watchers;

  try {
    await languageClient.start();
  } catch (error) {
    const notFound = (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
    const message = notFound
      ? `Usher: could not run "${command}". ${INSTALL_HINT}`
      : `Usher: the language server failed to start: ${describe(error)}`;
    output.appendLine(message);
    await stopClient();
    void reportStartFailure(message);
  }
}

async function stopClient(): Promise<void> {
  const current = client;
  client = undefined;
  for (const disposable of clientDisposables) {
    disposable.dispose();
  }
  clientDisposables = [];
  if (current === undefined) {
    return;
  }
  try {
    if (current.needsStop()) {
      await current.stop();
    }
  } catch (error) {
    output.appendLine(`Error while stopping the language server: ${describe(error)}`);
  }
  try {
    await current.dispose();
  } catch {
    // Already stopped.
  }
}

async function reportStartFailure(message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Output");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.path`);
  } else if (choice === "Show Output") {
    output.show(true);
  }
}

/**
 * Resolves `usher.path` to an executable file: a bare name is looked up on PATH,
 * `~` is expanded, and a relative path is taken from the first workspace folder.
 */
function resolveBinary(configured: string): string | undefined {
  let candidate = configured;
  if (candidate === "~" || candidate.startsWith("~/") || candidate.startsWith("~\\")) {
    candidate = path.join(os.homedir(), candidate.slice(1));
  }
  const hasSeparator = candidate.includes("/") || (process.platform === "win32" && candidate.includes("\\"));
  if (path.isAbsolute(candidate) || hasSeparator) {
    if (!path.isAbsolute(candidate)) {
      const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
      candidate = path.resolve(base, candidate);
    }
    return withExtensions(candidate).find(isExecutableFile);
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") {
      continue;
    }
    const found = withExtensions(path.join(dir, candidate)).find(isExecutableFile);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

function withExtensions(file: string): string[] {
  if (process.platform !== "win32" || path.extname(file) !== "") {
    return [file];
  }
  const extensions = (process.env.PATHEXT ?? ".EXE;.CMD;.BAT;.COM").split(";").filter((ext) => ext !== "");
  return [file, ...extensions.map((ext) => file + ext.toLowerCase())];
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== "win32") {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
