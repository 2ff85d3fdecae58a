import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { isPrivateAddress, vetTarget } from '../../src/alerts/webhook.ts';
import { embeddedIpv4 } from '../../src/net.ts';

/**
 * The webhook SSRF guard and IPv6 addresses that carry an IPv4 address (issue 15): each form
 * is judged by the IPv4 address it leads to, so none reaches loopback or a private network
 * while its own IPv6 range looks public.
 */
const inner = (ip: string) => embeddedIpv4(ipaddr.parse(ip) as ipaddr.IPv6)?.map(String);

/** [form, private example and the IPv4 it leads to, public example]. */
const FORMS: [string, string, string[], string][] = [
  ['IPv4-compatible (dotted)', '::127.0.0.2', ['127.0.0.2'], '::8.8.8.8'],
  ['IPv4-compatible (hex)', '::a00:1', ['10.0.0.1'], '::808:808'],
  ['IPv4-mapped (hex)', '::ffff:7f00:1', ['127.0.0.1'], '::ffff:808:808'],
  ['IPv4-translated', '::ffff:0:a9fe:a9fe', ['169.254.169.254'], '::ffff:0:808:808'],
  ['6to4', '2002:7f00:1::1', ['127.0.0.1'], '2002:808:808::1'],
  ['NAT64 well-known prefix', '64:ff9b::c0a8:101', ['192.168.1.1'], '64:ff9b::808:808'],
  ['Teredo (client 10.0.0.1, obfuscated)', '2001:0:4136:e378:8000:63bf:f5ff:fffe', ['65.54.227.120', '10.0.0.1'], '2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
  ['Teredo (server 127.0.0.1)', '2001:0:7f00:1:8000:63bf:f7f7:f7f7', ['127.0.0.1', '8.8.8.8'], '2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
];

describe('IPv6 forms embedding IPv4', () => {
  it.each(FORMS)('%s: %s leads to %j and is refused; a public one is not', async (_form, priv, v4, pub) => {
    expect(inner(priv)).toEqual(v4);
    expect(isPrivateAddress(priv)).toBe(true);
    expect(await vetTarget(new URL(`http://[${priv}]:8080/hook`), [])).toMatchObject({ ok: false, error: expect.stringMatching(/non-public address/) });
    expect(isPrivateAddress(pub)).toBe(false);
  });

  it('a local-use NAT64 prefix cannot be checked and is refused; plain IPv6 is judged by its own range', () => {
    expect(embeddedIpv4(ipaddr.parse('64:ff9b:1::a00:1') as ipaddr.IPv6)).toBeNull();
    expect(isPrivateAddress('64:ff9b:1::a00:1')).toBe(true);
    expect(inner('2606:4700:4700::1111')).toEqual([]);
    expect(isPrivateAddress('2606:4700:4700::1111')).toBe(false);
    for (const ip of ['::', '::1', 'fe80::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1']) expect(isPrivateAddress(ip), ip).toBe(true);
  });

  it('an allow-listed range still opens an embedded form on purpose', async () => {
    expect(await vetTarget(new URL('http://[::a00:1]:8080/hook'), ['::a00:1/128'])).toMatchObject({ ok: true });
  });
});
