using System.Security.Claims;
using Apiary.IO;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.Extensions.DependencyInjection;
using Radzen;

namespace Apiary.Server.Dashboard;

/// <summary>
/// The dashboard served at <c>/</c>: Razor components rendered on the server and kept live over a circuit, behind a
/// sign-in with the operator token (everything) or the read-only token (sees everything, changes nothing). The API's
/// bearer tokens stay the API's; the browser holds a cookie for the dashboard.
/// </summary>
internal static class DashboardSetup
{
    /// <summary>The claim role of a signed-in operator, who may change things.</summary>
    public const string OperatorRole = "operator";

    /// <summary>The claim role of the read-only token.</summary>
    public const string ReadOnlyRole = "read-only";

    public static void AddDashboard(this IServiceCollection services, ApiaryRuntime runtime)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddRadzenComponents();
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(cookie =>
            {
                cookie.LoginPath = "/signin";
                cookie.ReturnUrlParameter = "return_url";
                cookie.Cookie.Name = "apiary.dashboard";
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Strict;
                cookie.ExpireTimeSpan = TimeSpan.FromHours(12);
            });
        services.AddAuthorization();
        services.AddCascadingAuthenticationState();

        // Cookies, antiforgery tokens and circuits are protected with keys of the home's own, readable only by its owner.
        var keys = OwnerOnly.CreateDirectory(Path.Combine(runtime.Home.Root, "keys", "dashboard"));
        OwnerOnly.Tighten(keys.FullName);

        services.AddDataProtection().SetApplicationName("apiary").PersistKeysToFileSystem(keys);
        services.AddSingleton<DashboardFeed>();

        // Read as the server starts, just after it loaded the same files for its policy engine, and again at each reload.
        services.AddSingleton(new ActivePolicies(runtime));
        services.AddSingleton<SandboxSummary>();
    }

    public static void MapDashboard(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        DashboardAssets.Map(app);

        // The feed starts with the server, not with the first page: it folds the log into the sessions list meanwhile.
        _ = app.Services.GetRequiredService<DashboardFeed>();

        // Every page and the circuit's hub need a signed-in user; the sign-in page allows anyone.
        app.MapRazorComponents<Components.App>().AddInteractiveServerRenderMode().RequireAuthorization();
        app.MapPost("/auth/signin", SignInAsync).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/auth/signout", SignOutAsync).ExcludeFromDescription();
    }

    /// <summary>
    /// Signs in with a token: the operator token signs in an operator, the read-only token a reader; a session token
    /// (an agent's) does not sign in to the dashboard. The form must carry the sign-in page's antiforgery token.
    /// </summary>
    private static async Task<IResult> SignInAsync(HttpContext context, ApiaryRuntime runtime, IAntiforgery antiforgery, AuthRejections rejections)
    {
        if (!await HasItsAntiforgeryTokenAsync(context, antiforgery).ConfigureAwait(false))
        {
            return Problems.BadRequest("the sign-in form's antiforgery token is missing or wrong: sign in from the sign-in page");
        }

        var form = await context.Request.ReadFormAsync().ConfigureAwait(false);
        var token = form["token"].ToString();
        var returnUrl = form["return_url"].ToString();
        var back = returnUrl is { Length: > 0 } && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) && !returnUrl.StartsWith("/\\", StringComparison.Ordinal) ? returnUrl : "/";
        var grant = string.IsNullOrWhiteSpace(token) ? null : runtime.Tokens.Find(token.Trim());
        var role = grant?.Kind switch
        {
            TokenKind.Operator => OperatorRole,
            TokenKind.ReadOnly => ReadOnlyRole,
            _ => null,
        };
        if (role is null)
        {
            await rejections.RefuseAsync(
                context.Connection.RemoteIpAddress, "POST", "/auth/signin", grant is null ? "unknown token" : "a session token cannot sign in to the dashboard").ConfigureAwait(false);
            return Results.Redirect($"/signin?error={(grant is null ? "unknown" : "session")}&return_url={Uri.EscapeDataString(back)}");
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, grant!.Who), new Claim(ClaimTypes.Role, role)], CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity)).ConfigureAwait(false);
        return Results.LocalRedirect(back);
    }

    /// <summary>
    /// Signs out. The form must carry the antiforgery token of the page it was posted from (the layout's Sign out button),
    /// so another site cannot sign the user out with a form of its own.
    /// </summary>
    private static async Task<IResult> SignOutAsync(HttpContext context, IAntiforgery antiforgery)
    {
        if (!await HasItsAntiforgeryTokenAsync(context, antiforgery).ConfigureAwait(false))
        {
            return Problems.BadRequest("the sign-out form's antiforgery token is missing or wrong: sign out with the dashboard's Sign out button");
        }

        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
        return Results.LocalRedirect("/signin");
    }

    // Checked here rather than through form-bound parameters, whose generated binding fails with a 500 instead of refusing
    // a form that lacks its token.
    private static async Task<bool> HasItsAntiforgeryTokenAsync(HttpContext context, IAntiforgery antiforgery) =>
        context.Request.HasFormContentType && await antiforgery.IsRequestValidAsync(context).ConfigureAwait(false);
}
