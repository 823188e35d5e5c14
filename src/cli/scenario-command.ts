/**
 * `podwire scenario list | show NAME | run NAME`: the real Service-networking failures,
 * each on its own small cluster (src/scenario/). `run` exits 0 whenever the scenario ran
 * (whether the symptom showed is the answer, in the output and in `--json`), 2 on bad input.
 */
import { type Command, Option } from "commander";
import type { ProxyMode } from "../cluster/spec.js";

/** Loaded when a subcommand runs, so that `podwire --help` does not load the emulator. */
const load = () => Promise.all([import("../scenario/index.js"), import("./load-spec.js"), import("../base/output-file.js")]);

interface RunFlags {
  fixed?: boolean;
  mode?: ProxyMode;
  pcap?: string;
  json?: boolean;
  seed?: string;
}

export function registerScenario(program: Command): void {
  const scenario = program.command("scenario").description("real Service-networking failures people debug, reproduced on a small cluster, explained from the packets, and shown fixed");
  scenario
    .command("list")
    .description("every scenario: its name, the symptom, and where it was reported")
    .option("--json", "print [{name, number, symptom, issues, modes, fix}]")
    .action(async (flags: { json?: boolean }) => {
      const [{ SCENARIOS, formatScenarioList, scenarioListJson }] = await load();
      if (flags.json) process.stdout.write(JSON.stringify(scenarioListJson(SCENARIOS), null, 2) + "\n");
      else process.stdout.write(formatScenarioList(SCENARIOS).join("\n") + "\n");
    });
  scenario
    .command("show")
    .description("the scenario's cluster file (Kubernetes YAML, usable with -f elsewhere), with its notes")
    .argument("<name>", "scenario name or number")
    .action(async (name: string) => {
      const [{ findScenario, formatScenarioShow }] = await load();
      process.stdout.write(formatScenarioShow(findScenario(name)));
    });
  scenario
    .command("run")
    .description("build the situation, send the traffic that triggers it, and show the symptom and its mechanism (or, with --fixed, its absence)")
    .argument("<name>", "scenario name or number")
    .option("--fixed", "apply the known fix and run the same traffic")
    .addOption(new Option("--mode <mode>", "kube-proxy mode (default: the scenario's first)").choices(["iptables", "ipvs", "nftables"]))
    .option("--pcap <file>", "write every frame to this pcapng file (frame numbers in the output point into it)")
    .option("--json", "print {name, issues, symptom, summary, mechanism, evidence, counters, fix}")
    .option("--seed <n>", "seed for every random choice", "1")
    .action(async (name: string, flags: RunFlags) => {
      const [{ findScenario, formatScenarioRun, runScenario, scenarioRunJson }, { parseSeed }, { checkOutputFile }] = await load();
      const s = findScenario(name);
      const seed = parseSeed(flags.seed ?? "1");
      if (flags.pcap !== undefined) checkOutputFile(flags.pcap, "--pcap");
      const run = runScenario(s, { fixed: flags.fixed ?? false, seed, pcapPath: flags.pcap ?? null, ...(flags.mode ? { mode: flags.mode } : {}) });
      if (flags.json) process.stdout.write(JSON.stringify(scenarioRunJson(run), null, 2) + "\n");
      else process.stdout.write(formatScenarioRun(run).join("\n") + "\n");
    });
}
