import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';

describe('config', () => {
  it('applies defaults', () => {
    const c = parseConfig({});
    expect(c.gearman).toEqual(['127.0.0.1:4730']);
    expect(c.policyFile).toBe('policies/default.yml');
    expect(c.slack.apiUrl).toBe('https://slack.com/api/');
    expect(c.monitorIntervalMs).toBe(2000);
    expect(c.lagThresholdS).toBe(30);
  });

  it('reads GEAROPS_FANOUT, 64 by default, and names the variable when it is bad', () => {
    expect(parseConfig({}).fanout).toBe(64);
    expect(parseConfig({ GEAROPS_FANOUT: '8' }).fanout).toBe(8);
    expect(() => parseConfig({ GEAROPS_FANOUT: '0' })).toThrow(/GEAROPS_FANOUT: .*— set it to host jobs one \/run/);
    expect(() => parseConfig({ GEAROPS_FANOUT: 'lots' })).toThrow(/GEAROPS_FANOUT/);
  });

  it("reads GEAROPS_LAG_STEP_S, unset by default (the monitor's own), and names the variable when it is bad", () => {
    expect(parseConfig({}).lagStepS).toBeUndefined();
    expect(parseConfig({ GEAROPS_LAG_STEP_S: '2' }).lagStepS).toBe(2);
    expect(() => parseConfig({ GEAROPS_LAG_STEP_S: '0' })).toThrow(
      /GEAROPS_LAG_STEP_S: .*— set it to seconds an open lag alert's lag must grow or shrink by/,
    );
  });

  it('parses several job servers', () => {
    expect(parseConfig({ GEAROPS_GEARMAN: 'a:4730, b:4731' }).gearman).toEqual(['a:4730', 'b:4731']);
  });

  it('names the bad variable and the fix', () => {
    expect(() => parseConfig({ GEAROPS_GEARMAN: 'nohostport' })).toThrow(/GEAROPS_GEARMAN: .*host:port/);
    expect(() => parseConfig({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => parseConfig({ GEAROPS_JOB_SECRET: 'short' })).toThrow(/GEAROPS_JOB_SECRET: must be at least 16/);
    expect(() => parseConfig({ GEAROPS_ALERT_CHANNEL: '#alerts' })).toThrow(/GEAROPS_ALERT_CHANNEL/);
  });

  it('lists every missing requirement at once', () => {
    let message = '';
    try {
      parseConfig({}, ['slack', 'jobSecret', 'mysql']);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SLACK_BOT_TOKEN is not set/);
    expect(message).toMatch(/SLACK_APP_TOKEN or SLACK_SIGNING_SECRET/);
    expect(message).toMatch(/GEAROPS_JOB_SECRET is not set.*openssl rand/);
    expect(message).toMatch(/GEAROPS_MYSQL_URL is not set/);
  });

  it('reads the user-group TTL, 300 s by default, and names the variable when it is bad', () => {
    expect(parseConfig({}).groupsTtlS).toBe(300);
    expect(parseConfig({ GEAROPS_GROUPS_TTL_S: '60' }).groupsTtlS).toBe(60);
    expect(parseConfig({ GEAROPS_GROUPS_TTL_S: '' }).groupsTtlS).toBe(300);
    expect(() => parseConfig({ GEAROPS_GROUPS_TTL_S: '5' })).toThrow(
      /GEAROPS_GROUPS_TTL_S: must be at least 10 seconds.*— set it to seconds a Slack user group/,
    );
    expect(() => parseConfig({ GEAROPS_GROUPS_TTL_S: 'five' })).toThrow(
      /GEAROPS_GROUPS_TTL_S: expected a whole number of seconds/,
    );
    expect(() => parseConfig({ GEAROPS_GROUPS_TTL_S: '1.5' })).toThrow(/GEAROPS_GROUPS_TTL_S: expected a whole number/);
    expect(() => parseConfig({ GEAROPS_GROUPS_TTL_S: '100000' })).toThrow(
      /GEAROPS_GROUPS_TTL_S: must be at most 86400/,
    );
  });

  it('reads the frame limit, 8 MiB by default, and names the variable when it is bad', () => {
    expect(parseConfig({}).maxFrameBytes).toBe(8 * 1024 * 1024);
    expect(parseConfig({ GEAROPS_MAX_FRAME_BYTES: '1048576' }).maxFrameBytes).toBe(1048576);
    expect(() => parseConfig({ GEAROPS_MAX_FRAME_BYTES: '1000' })).toThrow(
      /GEAROPS_MAX_FRAME_BYTES: .*— set it to the largest Gearman frame/,
    );
  });

  it('gives clusters random passwords unless the demo setting asks otherwise, and keeps them in a state dir', () => {
    const d = parseConfig({});
    expect(d.sandboxDemoCredentials).toBe(false);
    expect(d.stateDir).toMatch(/\.gearops\/bot$/);
    const demo = parseConfig({ GEAROPS_SANDBOX_DEMO_CREDENTIALS: '1', GEAROPS_STATE_DIR: '/srv/gearops' });
    expect(demo).toMatchObject({ sandboxDemoCredentials: true, stateDir: '/srv/gearops' });
    expect(() => parseConfig({ GEAROPS_SANDBOX_DEMO_CREDENTIALS: 'yes' })).toThrow(
      /GEAROPS_SANDBOX_DEMO_CREDENTIALS: expected 1 or 0 — set it to 1 to give sandboxes on a loopback address/,
    );
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ SLACK_APP_TOKEN: '', GEAROPS_MYSQL_URL: '' }).mysqlUrl).toBeUndefined();
  });
});

describe('shutdown grace and response_url origins', () => {
  it('defaults to 20 s and to Slack hooks hosts, and names the variable and the fix for a bad value', () => {
    const c = parseConfig({});
    expect(c.shutdownGraceS).toBe(20);
    expect(c.slack.responseOrigins).toEqual(['https://hooks.slack.com', 'https://hooks.slack-gov.com']);
    expect(
      parseConfig({ SLACK_RESPONSE_ORIGINS: 'http://127.0.0.1:8080/, https://hooks.slack.com' }).slack.responseOrigins,
    ).toEqual(['http://127.0.0.1:8080', 'https://hooks.slack.com']);
    expect(() => parseConfig({ GEAROPS_SHUTDOWN_GRACE_S: '0' })).toThrow(
      /GEAROPS_SHUTDOWN_GRACE_S: must be at least 1/,
    );
    expect(() => parseConfig({ GEAROPS_SHUTDOWN_GRACE_S: 'soon' })).toThrow(
      /GEAROPS_SHUTDOWN_GRACE_S: expected a whole/,
    );
    expect(() => parseConfig({ SLACK_RESPONSE_ORIGINS: 'https://hooks.slack.com/commands' })).toThrow(
      /SLACK_RESPONSE_ORIGINS: expected origins/,
    );
  });
});
