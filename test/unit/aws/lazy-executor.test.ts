/**
 * The Lambdas' executor (lambdas/ecs-env.ts lazyExecutorFromEnv) is a shell that builds the ECS
 * executor on first use. What the server reads off it without calling it, and the sweeper's stop
 * of a lost run, must reach the real executor: a shell without `stopLost` made the sweeper
 * requeue a job beside a task that may still run it (issue 12 point 4).
 */
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { lazyExecutorFromEnv } from "../../../lambdas/ecs-env.js";

const ecsMock = mockClient(ECSClient);
const env = {
  AWS_REGION: "us-east-1",
  ECS_CLUSTER: "arn:aws:ecs:us-east-1:111122223333:cluster/site",
  ECS_TASK_DEFINITION: "mom:1",
  ECS_SUBNETS: "subnet-1",
  ECS_CONTAINER_NAME: "mom",
};

describe("lazyExecutorFromEnv", () => {
  beforeEach(() => ecsMock.reset());

  it("stops a lost run's task through ECS (ListTasks, DescribeTasks, StopTask), never RunTask", async () => {
    const task = "arn:aws:ecs:us-east-1:111122223333:task/site/abc";
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [task] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: task,
          overrides: {
            containerOverrides: [
              {
                name: "mom",
                environment: [
                  { name: "JOB_ID", value: "7.casper" },
                  { name: "RUN_COUNT", value: "2" },
                ],
              },
            ],
          },
        },
      ],
    });
    ecsMock.on(StopTaskCommand).resolves({});
    const ex = lazyExecutorFromEnv(env);
    expect(ex.stopLost).toBeTypeOf("function");
    await ex.stopLost?.({ jobId: "7.casper", momId: "ecs:7:2", runCount: 2 }, "MOM went silent");
    const stops = ecsMock.commandCalls(StopTaskCommand);
    expect(stops).toHaveLength(1);
    expect(stops[0].args[0].input.task).toBe(task);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("a failing stop rejects (the sweeper then leaves the job for its next pass)", async () => {
    ecsMock.on(ListTasksCommand).rejects(new Error("ThrottlingException"));
    const ex = lazyExecutorFromEnv(env);
    await expect(ex.stopLost?.({ jobId: "7.casper", momId: "ecs:7:2", runCount: 2 }, "lost")).rejects.toThrow(
      /Throttling/,
    );
  });

  it("carries the ECS executor's refusal of staging and its one MOM per run", () => {
    const ex = lazyExecutorFromEnv(env);
    expect(ex.refusesStaging).toMatch(/ECS tasks/);
    expect(ex.momPerRun).toBe(true);
  });

  it("without ECS settings: nothing to stop, no refusal, no per-run MOM", async () => {
    const ex = lazyExecutorFromEnv({});
    await expect(ex.stopLost?.({ jobId: "1.x", momId: "m", runCount: 1 }, "lost")).resolves.toBeUndefined();
    expect(ex.refusesStaging).toBeUndefined();
    expect(ex.momPerRun).toBeUndefined();
  });
});
