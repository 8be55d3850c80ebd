/**
 * The site's intake on AWS (shared/ports/intake.ts): the Lambda event source mappings of its
 * queues, and the EventBridge rule of its tick. While enabled, each mapping's pollers long-poll
 * SQS around the clock (billed as SQS requests, messages or not) and the rule invokes the
 * sweeper every minute; disabled, the queues keep their messages (4 days' retention) and
 * nothing is billed but storage.
 *
 * The mappings are found by their queues' ARNs (ListEventSourceMappings), not named in the
 * functions' environment: a function cannot name its own mapping in CloudFormation without a
 * circular reference. A site with peers keeps its tick running while it sleeps (`keepTick`): the
 * tick tells the peers it is alive, or they would stop sending it work.
 */
import { type EventBridgeClient, DisableRuleCommand, EnableRuleCommand } from "@aws-sdk/client-eventbridge";
import {
  type EventSourceMappingConfiguration,
  type LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceInUseException,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import { IntakeError } from "../../errors.js";
import type { IntakeSwitch } from "../../ports/intake.js";

export interface AwsIntakeOptions {
  lambda: LambdaClient;
  events: EventBridgeClient;
  /** the queues whose mappings pause (the site's sched and events queues, and its inbox) */
  queueArns: string[];
  /** the tick's rule; undefined: no tick to pause */
  tickRule?: string;
  /** true while the tick must keep running when asleep (the site has peers) */
  keepTick?: () => boolean;
  /** waits between tries of a mapping that is being updated (its previous change in progress) */
  retryDelaysMs?: number[];
}

const ON = new Set(["Enabled", "Enabling"]);
const OFF = new Set(["Disabled", "Disabling"]);

export class AwsIntake implements IntakeSwitch {
  constructor(private readonly o: AwsIntakeOptions) {}

  async pause(): Promise<void> {
    await this.mappings(false);
    if (this.o.tickRule && !this.o.keepTick?.())
      await this.call("disable the tick", () =>
        this.o.events.send(new DisableRuleCommand({ Name: this.o.tickRule })),
      );
  }

  async resume(): Promise<void> {
    // the mappings first: the work a producer is about to write is consumed by them
    await this.mappings(true);
    if (this.o.tickRule)
      await this.call("enable the tick", () =>
        this.o.events.send(new EnableRuleCommand({ Name: this.o.tickRule })),
      );
  }

  private async mappings(enabled: boolean): Promise<void> {
    await Promise.all(
      this.o.queueArns.map(async (arn) => {
        for (const m of await this.list(arn)) await this.set(m, enabled);
      }),
    );
  }

  private async list(queueArn: string): Promise<EventSourceMappingConfiguration[]> {
    const out: EventSourceMappingConfiguration[] = [];
    let marker: string | undefined;
    do {
      const r = await this.call(`list the mappings of ${queueArn}`, () =>
        this.o.lambda.send(new ListEventSourceMappingsCommand({ EventSourceArn: queueArn, Marker: marker })),
      );
      out.push(...(r.EventSourceMappings ?? []));
      marker = r.NextMarker;
    } while (marker);
    return out;
  }

  /** One mapping to `enabled`, unless it is there or on its way. */
  private async set(m: EventSourceMappingConfiguration, enabled: boolean): Promise<void> {
    if ((enabled ? ON : OFF).has(m.State ?? "")) return;
    const delays = this.o.retryDelaysMs ?? [500, 1000, 2000, 4000];
    for (let i = 0; ; i++) {
      try {
        await this.o.lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: enabled }));
        return;
      } catch (err) {
        // the mapping is still applying the previous change (a pause a moment ago): wait for it
        if (err instanceof ResourceInUseException && i < delays.length) {
          await new Promise((r) => setTimeout(r, delays[i]));
          continue;
        }
        throw new IntakeError(
          `could not ${enabled ? "enable" : "disable"} event source mapping ${m.UUID}`,
          err,
        );
      }
    }
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new IntakeError(`could not ${what}`, err);
    }
  }
}
