import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = parse(readFileSync(`${root}manifest.yml`, 'utf8')) as {
  features: {
    slash_commands: Array<{ command: string; description: string; usage_hint: string }>;
    bot_user: { display_name: string };
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean }; socket_mode_enabled: boolean };
};

describe('manifest.yml', () => {
  it('declares exactly the commands the bot serves, each with a description and usage hint within Slack limits', async () => {
    const served = ['run', 'replica', 'pool'];
    expect(manifest.features.slash_commands.map((c) => c.command).sort()).toEqual(served.map((c) => `/${c}`).sort());
    for (const c of manifest.features.slash_commands) {
      expect(c.description.length).toBeGreaterThan(0);
      expect(c.description.length).toBeLessThanOrEqual(2000);
      expect(c.usage_hint.length).toBeGreaterThan(0);
      expect(c.usage_hint.length).toBeLessThanOrEqual(1000);
    }
    // The same names the app registers (src/app.ts builds run, replica and pool).
    const app = readFileSync(`${root}src/app.ts`, 'utf8');
    for (const c of served)
      expect(app).toMatch(new RegExp(`create${c[0]!.toUpperCase()}${c.slice(1)}Command|needsStore\\(\\s*'${c}'`));
  });

  it('asks only for the bot scopes the code uses, with interactivity and Socket Mode on', () => {
    const dir = `${root}src/chat/slack/`;
    const slack = readdirSync(dir)
      .map((f) => readFileSync(dir + f, 'utf8'))
      .join('\n');
    const needs: Record<string, boolean> = {
      commands: /app\.command\(/.test(slack),
      'chat:write': /chat\.postMessage|chat\.update|chat\.postEphemeral/.test(slack),
      'chat:write.public': /chat\.postMessage/.test(slack),
      'files:write': /filesUploadV2/.test(slack),
      'usergroups:read': /usergroups/.test(slack),
    };
    expect(manifest.oauth_config.scopes.bot.sort()).toEqual(
      Object.keys(needs)
        .filter((k) => needs[k])
        .sort(),
    );
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
  });
});
