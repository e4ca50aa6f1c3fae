using System.Text;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// Every view of the dashboard measured by axe-core in a real browser against a real server (the sample home, real
/// sandboxes, a scripted model) with something to show: approvals waiting (one with a diff), a session with a command's
/// stdout and stderr, a denial and a message, and an agent with turns. Each view, and the states its actions open, must
/// have no violation of the WCAG 2.0 and 2.1 A and AA rules axe checks (contrast, labels, names, structure) at laptop
/// width, placeholders and focus rings must have the contrast axe does not check, and no view may scroll sideways at
/// 1280 or 1024 pixels wide.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardAccessibilityTests(DashboardAccessibilityTests.Home home) : IClassFixture<DashboardAccessibilityTests.Home>
{
    // Each enabled input's placeholder against its background, and each focusable element's focus ring against the
    // background it is drawn on (its parent's): the WCAG contrast ratio of the two colours.
    private const string WeakContrastScript = """
        () => {
          const rgba = c => { const [r, g, b, a = 1] = c.match(/[\d.]+/g).map(Number); return { r, g, b, a }; };
          const channel = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
          const luminance = c => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
          const ratio = (x, y) => { const [hi, lo] = [luminance(x), luminance(y)].sort((a, b) => b - a); return (hi + 0.05) / (lo + 0.05); };
          const background = e => {
            for (; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c.a > 0) return c; }
            return { r: 255, g: 255, b: 255, a: 1 };
          };
          const name = e => e.id ? '#' + e.id : e.outerHTML.slice(0, 100);
          const weak = [];
          for (const e of document.querySelectorAll('input[placeholder]:enabled, textarea[placeholder]:enabled')) {
            const r = ratio(rgba(getComputedStyle(e, '::placeholder').color), background(e));
            if (r < 4.5) weak.push(`placeholder of ${name(e)}: ${r.toFixed(2)}:1 (${getComputedStyle(e, '::placeholder').color}), needs 4.5:1`);
          }
          for (const e of document.querySelectorAll('a[href], button:enabled, input:enabled:not([type=hidden]), select:enabled, textarea:enabled, summary')) {
            e.focus();
            if (document.activeElement !== e || !e.matches(':focus-visible')) continue;
            const s = getComputedStyle(e);
            const under = background(e.parentElement);
            const r = s.outlineStyle === 'none' ? 0 : ratio(rgba(s.outlineColor), under);
            if (r < 3) weak.push(`focus ring of ${name(e)}: ${r.toFixed(2)}:1 (${s.outlineStyle} ${s.outlineColor} on rgb(${under.r}, ${under.g}, ${under.b})), needs 3:1`);
          }
          document.activeElement?.blur();
          return weak;
        }
        """;

    private static readonly string[] WcagTags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

    private DashboardBrowser Dashboard => home.Dashboard;

    [Theory]
    [InlineData("/signin", "")]
    [InlineData("/signin", "a wrong token refused")]
    [InlineData("/", "")]
    [InlineData("/", "kill switch confirming")]
    [InlineData("/approvals", "")]
    [InlineData("/approvals", "read-only")]
    [InlineData("/sessions", "")]
    [InlineData("/sessions/{session}", "")]
    [InlineData("/agents", "")]
    [InlineData("/agents/coder", "")]
    [InlineData("/events", "")]
    [InlineData("/events", "hash chain verified")]
    [InlineData("/policies", "")]
    [InlineData("/policies", "dry run shown")]
    public async Task View_AtLaptopWidth_HasNoWcag21AAViolations(string view, string state)
    {
        var page = await OpenAsync(view, state);

        var result = await page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = [.. WcagTags] },
            ResultTypes = [ResultType.Violations, ResultType.Incomplete],
        });

        // What axe could not decide (text over a chart's drawing, say) is for a person to review, not a failure.
        foreach (var review in result.Incomplete ?? [])
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"to review: {review.Id} at {string.Join(", ", review.Nodes.Select(n => n.Target))}");
        }

        var violations = result.Violations ?? [];
        Assert.True(violations.Length == 0, Describe($"{view} {state}".TrimEnd(), violations));

        // What axe leaves out: placeholder text (4.5:1, as text) and the keyboard's focus ring (3:1 against what is
        // around it, 1.4.11), measured the way axe measures colours. A key pressed first makes focus rings show.
        await page.Keyboard.PressAsync("Shift");
        var weak = await page.EvaluateAsync<string[]>(WeakContrastScript);
        Assert.True(weak.Length == 0, $"{view} {state}: too little contrast\n{string.Join("\n", weak)}");
        await page.CloseAsync();
    }

    [Theory]
    [InlineData("/signin")]
    [InlineData("/")]
    [InlineData("/approvals")]
    [InlineData("/sessions")]
    [InlineData("/sessions/{session}")]
    [InlineData("/agents")]
    [InlineData("/agents/coder")]
    [InlineData("/events")]
    [InlineData("/policies")]
    public async Task View_1280And1024PixelsWide_DoesNotScrollSideways(string view)
    {
        var page = await OpenAsync(view, "");
        foreach (var width in new[] { 1280, 1024 })
        {
            await page.SetViewportSizeAsync(width, 800);
            var overflow = await page.EvaluateAsync<string[]>("""
                () => {
                  const root = document.documentElement;
                  if (root.scrollWidth <= root.clientWidth) return [];
                  const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5);
                  return [`scrollWidth ${root.scrollWidth} > clientWidth ${root.clientWidth}`, ...wide.slice(0, 10).map(e => e.outerHTML.slice(0, 160))];
                }
                """);
            Assert.True(overflow.Length == 0, $"{view} at {width} px wide scrolls sideways; elements reaching past the right edge:\n{string.Join("\n", overflow)}");
        }

        await page.CloseAsync();
    }

    /// <summary>
    /// Opens <paramref name="view"/> (the sign-in page signed out) in <paramref name="state"/> and waits until it shows
    /// what it is checked with.
    /// </summary>
    private async Task<IPage> OpenAsync(string view, string state)
    {
        var path = view.Replace("{session}", home.Session, StringComparison.Ordinal);
        if (path.StartsWith("/signin", StringComparison.Ordinal))
        {
            var signIn = await Dashboard.NewPageAsync();
            await signIn.GotoAsync(Dashboard.Url + path);
            if (state == "a wrong token refused")
            {
                await signIn.FillAsync("#token", "not-a-token");
                await signIn.ClickAsync("#signin");
                await Assertions.Expect(signIn.Locator("#signin-error")).ToBeVisibleAsync();
            }

            await Assertions.Expect(signIn.Locator("#token")).ToBeVisibleAsync();

            return signIn;
        }

        var page = await Dashboard.SignedInPageAsync(path, state == "read-only" ? Dashboard.ReadOnlyToken : null);
        await Assertions.Expect(page.Locator("#live")).ToBeAttachedAsync();
        var shows = path switch
        {
            "/" => page.Locator("#sandbox-checks").Filter(new LocatorFilterOptions { HasText = " ok" }),
            "/approvals" => page.Locator(".ticket pre.diff"),
            "/sessions" => page.Locator($"#sessions tr[data-session='{home.Session}']"),
            "/agents" => page.Locator("tr[data-agent=coder]"),
            "/agents/coder" => page.Locator("#totals"),
            "/events" => page.Locator("#events tbody tr").First,
            "/policies" => page.Locator("#rules tbody tr").First,
            _ => page.Locator("#messages .message"),
        };
        await Assertions.Expect(shows).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 15000 });
        if (path == "/agents/coder")
        {
            // Its charts drawn, with the fixture's two turns.
            await Assertions.Expect(page.Locator("#chart-tokens")).ToHaveAttributeAsync("data-points", "2");
            await Assertions.Expect(page.Locator("#chart-tokens svg").First).ToBeVisibleAsync();
        }
        else if (path == "/approvals")
        {
            await Assertions.Expect(page.Locator(".ticket")).ToHaveCountAsync(2);
        }
        else if (path.StartsWith("/sessions/", StringComparison.Ordinal))
        {
            await Assertions.Expect(page.Locator(".seg[data-stream=stderr]")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#proposals .decision-deny")).ToBeVisibleAsync();
        }

        switch (state)
        {
            case "kill switch confirming":
                await page.ClickAsync("#kill-engage");
                await Assertions.Expect(page.Locator("#kill-reason")).ToBeVisibleAsync();
                break;
            case "read-only":
                await Assertions.Expect(page.Locator("#read-only")).ToBeVisibleAsync();
                break;
            case "hash chain verified":
                await page.ClickAsync("#verify");
                await Assertions.Expect(page.Locator("#chain-status")).ToContainTextAsync("Intact");
                break;
            case "dry run shown":
                await page.FillAsync("#candidate", DashboardEventsPoliciesTests.DenyCoderWrites);
                await page.SelectOptionAsync("#candidate-mode", "add");
                await page.ClickAsync("#dry-run");
                await Assertions.Expect(page.Locator("#changes tbody tr").First).ToBeVisibleAsync();
                break;
            default:
                Assert.Equal("", state);
                break;
        }

        return page;
    }

    /// <summary>Each violation with its rule, what it asks for and every element that breaks it, so a failure says what to fix.</summary>
    private static string Describe(string view, AxeResultItem[] violations)
    {
        var text = new StringBuilder($"{view} at 1280x800: {violations.Length} WCAG 2.1 A/AA rule(s) violated");
        foreach (var v in violations)
        {
            text.Append($"\n\n{v.Id} ({v.Impact}): {v.Help} [{v.HelpUrl}]");
            foreach (var node in v.Nodes ?? [])
            {
                text.Append($"\n  at {node.Target}: {node.Html}");
                if (node.Any is { Length: > 0 } any)
                {
                    text.Append("\n    fix any of: ").AppendJoin(" | ", any.Select(c => c.Message));
                }

                if ((node.All ?? []).Concat(node.None ?? []).ToList() is { Count: > 0 } all)
                {
                    text.Append("\n    fix all of: ").AppendJoin(" | ", all.Select(c => c.Message));
                }
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// One server and browser for every view, with something on each to measure. Created once for the class: the
    /// views only look, so they share what it made.
    /// </summary>
    public sealed class Home : IAsyncLifetime
    {
        private const string Makefile = "all:\n\t@echo out\n\t@echo err >&2\n";

        internal DashboardBrowser Dashboard { get; private set; } = null!;

        /// <summary>The coder's session: a command's stdout and stderr, a denial, a message to the coder.</summary>
        internal string Session { get; private set; } = "";

        private static CancellationToken Ct => TestContext.Current.CancellationToken;

        public async ValueTask InitializeAsync()
        {
            Dashboard = await DashboardBrowser.StartAsync("apiary-dashboard-a11y", Ct);
            var client = Dashboard.Client;

            // A session with output on both streams, a denial and a message.
            Session = (await client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct)).Session.Id;
            Assert.Equal("completed", (await client.ProposeAsync(Session, new ProposalRequest("write_file", Path: "src/Makefile", Content: Makefile), wait: true, cancellationToken: Ct)).Status);
            Assert.Equal("completed", (await Dashboard.ApproveForSessionAsync(Session, new ProposalRequest("exec", Command: "make", Args: ["-s", "-f", "src/Makefile"]), Ct)).Status);
            Assert.Equal("denied", (await client.ProposeAsync(Session, new ProposalRequest("exec", Command: "rm", Args: ["-rf", "/"]), cancellationToken: Ct)).Status);
            await client.SendMessageAsync(new SendMessageRequest("coder", "run the tests before you push"), Ct);

            // The coder's turns, for the agent page's telemetry.
            Dashboard.Model.Exec("echo", "hello").Answer("done");
            await client.ReadRunToFinishAsync((await client.StartRunAsync("coder", new StartRunRequest("say hello"), Ct)).Id);

            // Two approvals waiting: a write outside src/ and tests/, and a manager's spawn of an agent (with its diff).
            await client.ProposeAsync(Session, new ProposalRequest("write_file", Path: "Makefile", Content: "all:\n\ttrue\n"), cancellationToken: Ct);
            AgentDrafts.WriteHelper(Dashboard.Home, "drafts/helper", "tokens: 1000");
            Dashboard.Model.CallTool("request_spawn", new Dictionary<string, object?> { ["name"] = "helper", ["from_draft"] = "drafts/helper" }).Answer("asked");
            var spawn = await client.StartRunAsync("manager", new StartRunRequest("get a helper"), Ct);
            await foreach (var step in client.StreamRunProgressAsync(spawn.Id, Ct))
            {
                Assert.NotEqual("finished", step.Status);
                if (step is { Type: "decision", Decision: "pending", Tool: "request_spawn" })
                {
                    break;
                }
            }

            Assert.Contains(await client.ListApprovalsAsync(Ct), t => t.Diff is not null);
        }

        public async ValueTask DisposeAsync() => await Dashboard.DisposeAsync();
    }
}
