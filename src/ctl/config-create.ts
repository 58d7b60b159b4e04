/**
 * `ctl config create` (operations.md §1.2): builds the config file by asking,
 * for every context of a kubeconfig (in the kubeconfig's order), whether it is
 * a principal, an agent or neither, its namespace and a symbolic name, then
 * which principal is the default. Questions and answers are upstream's;
 * answers come from stdin a line at a time, so the command also runs with
 * piped input. An invalid answer asks again; the end of input aborts (exit 1)
 * without writing anything.
 *
 * @example
 *   printf 'principal\nargocd\nhub\nagent\nargocd\nspoke\nhub\n' | argocd-agent ctl config create --output-path ./ctl.conf
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { emptyConfig, entriesOf, writeConfigFile, type ComponentKind } from "./config-file.ts";
import { CtlError } from "./ctl-context.ts";
import { stdinAnswers, type Answers } from "./stdin-answers.ts";

function kubeconfigContexts(path: string): string[] {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new CtlError(`Failed to load kubeconfig ${path}: ${(err as Error).message}`);
  }
  return kc.getContexts().map((c) => c.name);
}

/** Asks until `valid` accepts the answer (trimmed); end of input is an error. */
async function askUntil(answers: Answers, question: string, valid: (s: string) => boolean, hint: string): Promise<string> {
  for (;;) {
    const answer = await answers.ask(`${question}: `);
    if (answer === undefined) throw new CtlError("config create: input ended before every question was answered; nothing written");
    const v = answer.trim();
    if (valid(v)) return v;
    process.stdout.write(`${hint}\n`);
  }
}

const oneWord = (s: string) => s !== "" && !/\s/.test(s);

export async function configCreate(o: { kubeconfigPath?: string; outputPath: string }, out: (s: string) => void): Promise<void> {
  const kubeconfig = o.kubeconfigPath || process.env.KUBECONFIG?.split(":").find(Boolean) || join(process.env.HOME || homedir(), ".kube", "config");
  const contexts = kubeconfigContexts(kubeconfig);
  const cfg = emptyConfig();
  const answers = stdinAnswers();
  try {
    for (const context of contexts) {
      const kind = (await askUntil(answers, `Found context ${context}, is this a principal or agent? If is neither type leave blank to skip.`,
        (s) => s === "principal" || s === "agent" || s === "", "Answer principal, agent, or leave blank.")) as ComponentKind | "";
      if (kind === "") {
        out("");
        continue;
      }
      const namespace = await askUntil(answers, `Which namespace is the ${kind} installed in?`, oneWord, "Give one namespace name.");
      const entries = entriesOf(cfg, kind);
      const name = await askUntil(answers, `What name would you like to use for this ${kind}?`, (s) => oneWord(s) && !Object.hasOwn(entries, s),
        `Give one word that no other ${kind} uses.`);
      entries[name] = { context, namespace };
      out("");
    }
    const principals = Object.keys(cfg.principals);
    if (principals.length) {
      for (const p of principals) out(`> ${p}`);
      cfg.defaultPrincipal = await askUntil(answers, "Which of the above principals do you want to use as the default?", (s) => Object.hasOwn(cfg.principals, s),
        "Give one of the names listed above.");
      out("");
    }
  } finally {
    answers.close();
  }
  writeConfigFile(o.outputPath, cfg);
  out(`Successfully wrote config to ${o.outputPath}`);
}
