using System.Text.RegularExpressions;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;
using Storage.Tests.Fixtures;
using static Microsoft.Playwright.Assertions;

namespace Storage.Tests.Aspire;

/// <summary>
/// The Aspire dashboard as a person sees it, in headless Chromium (Debian's, driven by Playwright): logging in with the
/// token, every resource running and healthy, one PUT's trace reaching Redis and the storage nodes, and the cache
/// worker's metrics. A screenshot of each page is kept under the test artifacts.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed partial class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_dashboard_shows_every_resource_healthy_a_put_crossing_redis_and_the_nodes_and_the_worker_metrics()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        if (!File.Exists(Chromium))
        {
            Assert.Skip($"DASHBOARD BROWSER TEST NOT RUN: {Chromium} is missing (.ci/test.sh installs Debian's chromium).");
        }

        using var sandbox = new TempDirectory("apphost-dashboard");
        await using var topology = await AspireTopology.StartAsync(new TopologyRun(TopologyMode.Processes, sandbox.Path, Dashboard: true), "apphost-dashboard", cancellationToken);
        using (var gateway = topology.Gateway())
        {
            (await gateway.PutAsync("/object/traced", new ByteArrayContent(TestData.Bytes(1_000_000, 71)), cancellationToken)).EnsureSuccessStatusCode();
        }

        await BuildThroughTheWorkerAsync(topology);
        var login = await topology.App.GetDashboardUrlAsync(cancellationToken);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
        page.SetDefaultTimeout(60_000);
        SetDefaultExpectTimeout(60_000);
        var dashboard = new Uri(login.GetLeftPart(UriPartial.Authority));

        await LogInAsync(page, dashboard, Token(login));
        var replicas = await EveryResourceIsRunningAndHealthyAsync(page, topology.Run.NodeCount);
        await ThePutTraceReachesRedisAndTheNodesAsync(page, dashboard, replicas);
        await TheWorkerMetricsAreShownAsync(page, dashboard);
    }

    /// <summary>Through the login form, as a person with the printed token would (not the token in the URL).</summary>
    private static async Task LogInAsync(IPage page, Uri dashboard, string token)
    {
        await page.GotoAsync(new Uri(dashboard, "/").ToString());
        await Expect(page).ToHaveURLAsync(LoginPage());

        // The form is a Blazor component: typing before its circuit connects is lost, so type and submit until it takes.
        for (var attempt = 1; ; attempt++)
        {
            await page.GetByRole(AriaRole.Textbox).FillAsync(token);
            await page.Locator("fluent-button[name='submit-token']").ClickAsync();
            try
            {
                await Expect(page).ToHaveURLAsync(ResourcesPage(), new PageAssertionsToHaveURLOptions { Timeout = 5_000 });
                return;
            }
            catch (PlaywrightException) when (attempt < 12)
            {
            }
        }
    }

    /// <summary>Each node, Redis, both gateway replicas and the worker: the state column reads exactly "Running" (unhealthy would add "(Unhealthy)").</summary>
    private static async Task<IReadOnlyList<string>> EveryResourceIsRunningAndHealthyAsync(IPage page, int nodeCount)
    {
        string[] names = [.. Enumerable.Range(1, nodeCount).Select(i => $"node{i}"), "redis", "cacheprog"];
        foreach (var name in names)
        {
            await Expect(StateOf(page, $"^{name}$")).ToHaveTextAsync("Running");
        }

        var gateways = StateOf(page, "^gateway-");
        await Expect(gateways).ToHaveCountAsync(2);
        await Expect(gateways.Nth(0)).ToHaveTextAsync("Running");
        await Expect(gateways.Nth(1)).ToHaveTextAsync("Running");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.PathFor("dashboard-resources.png"), FullPage = true });
        return [.. (await page.Locator("span.resource-name-text", new PageLocatorOptions { HasTextRegex = new Regex("^gateway-") }).AllInnerTextsAsync()).Select(t => t.Trim())];
    }

    /// <summary>The trace of <c>PUT /object/{id}</c> has spans to Redis and to storage nodes, named after their resources.</summary>
    private static async Task ThePutTraceReachesRedisAndTheNodesAsync(IPage page, Uri dashboard, IReadOnlyList<string> replicas)
    {
        await page.GotoAsync(new Uri(dashboard, "/traces").ToString());

        // Rows shown means the page is live (its filter box would ignore typing before that).
        await Expect(page.Locator("tr.fluent-data-grid-row").Filter(new LocatorFilterOptions { Has = page.Locator("td") }).First).ToBeVisibleAsync();
        await page.Locator("input[name=traces-search]").FillAsync("PUT /object");
        var put = page.Locator("tr.fluent-data-grid-row").Filter(new LocatorFilterOptions { HasTextRegex = PutObjectTrace() }).First;
        await Expect(put).ToBeVisibleAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.PathFor("dashboard-traces.png") });

        // The spans sit under the replica's own resource (its service.instance.id from Aspire), not under a GUID of their own.
        var row = await put.InnerTextAsync();
        Assert.True(replicas.Count == 2 && replicas.Any(r => row.Contains(r, StringComparison.Ordinal)), $"The PUT's trace row '{row}' names none of the replicas {string.Join(", ", replicas)}.");

        // The grid re-renders as traces stream in, which can swallow a click: click until the detail page opens.
        for (var attempt = 1; ; attempt++)
        {
            await put.Locator("td").Nth(1).ClickAsync();
            try
            {
                await Expect(page).ToHaveURLAsync(TraceDetailPage(), new PageAssertionsToHaveURLOptions { Timeout = 5_000 });
                break;
            }
            catch (PlaywrightException) when (attempt < 12)
            {
            }
        }

        var peers = page.Locator("span.uninstrumented-peer");
        await Expect(peers.Filter(new LocatorFilterOptions { HasTextRegex = new Regex(@"\bredis\b") }).First).ToBeVisibleAsync();
        await Expect(peers.Filter(new LocatorFilterOptions { HasTextRegex = new Regex(@"\bnode[0-9]+\b") }).First).ToBeVisibleAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.PathFor("dashboard-trace-put.png"), FullPage = true });
        var nodesReached = (await peers.AllInnerTextsAsync()).Select(text => text.Trim()).Where(text => text.StartsWith("node", StringComparison.Ordinal)).Distinct().Count();
        Assert.True(nodesReached >= 8, $"The PUT's trace reaches {nodesReached} distinct storage nodes; a 1 MB object is striped over 8.");
    }

    /// <summary>The worker's request counter (by command and outcome) on its metrics page, as a table of values.</summary>
    private static async Task TheWorkerMetricsAreShownAsync(IPage page, Uri dashboard)
    {
        await page.GotoAsync(new Uri(dashboard, "/metrics/resource/cacheprog?meter=Storage.CacheProg&instrument=cacheprog.requests&view=Table").ToString());
        await Expect(page.Locator("fluent-tree-item", new PageLocatorOptions { HasTextString = "cacheprog.requests" }).First).ToBeVisibleAsync();
        var content = page.Locator("div.metrics-content");
        await Expect(content.Locator("tr.fluent-data-grid-row").Nth(1)).ToBeVisibleAsync();
        foreach (var dimension in new[] { "command", "get", "put", "outcome", "miss" })
        {
            await Expect(content.GetByText(dimension, new LocatorGetByTextOptions { Exact = true }).First).ToBeVisibleAsync();
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.PathFor("dashboard-metrics-cacheprog.png"), FullPage = true });
    }

    private static ILocator StateOf(IPage page, string namePattern) =>
        page.Locator("tr.resource-row")
            .Filter(new LocatorFilterOptions { Has = page.Locator("span.resource-name-text", new PageLocatorOptions { HasTextRegex = new Regex(namePattern) }) })
            .Locator("div.state-column-cell");

    private static async Task BuildThroughTheWorkerAsync(AspireTopology topology)
    {
        var sandbox = topology.Run.DataPath;
        var module = GoToolchain.WriteModule(Path.Combine(sandbox, "module"));
        var environment = GoToolchain.SandboxEnvironment(sandbox, $"{GoToolchain.CacheProg} connect unix:{topology.Run.WorkerSocket}", Path.Combine(sandbox, "gocache"));
        await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", Path.Combine(sandbox, "hello"), "."], environment, TimeSpan.FromMinutes(5));
    }

    private static string Token(Uri login) =>
        System.Web.HttpUtility.ParseQueryString(login.Query)["t"] ?? throw new InvalidOperationException($"No token in the dashboard's login URL {login.GetLeftPart(UriPartial.Path)}.");

    [GeneratedRegex("^https?://[^/]+/$")]
    private static partial Regex ResourcesPage();

    [GeneratedRegex("/login")]
    private static partial Regex LoginPage();

    [GeneratedRegex("/traces/detail/")]
    private static partial Regex TraceDetailPage();

    [GeneratedRegex(@"PUT /object/\{\*\*id\}")]
    private static partial Regex PutObjectTrace();
}
