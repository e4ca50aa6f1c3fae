namespace Apiary.Server.Tests;

/// <summary>Opening a session over plain HTTP, as a client without <see cref="ApiaryClient"/> would.</summary>
internal static class SessionRequests
{
    /// <summary>Opens a session with <paramref name="request"/>, asserts it was created, and returns what the server answered.</summary>
    public static async Task<OpenSessionResponse> OpenSessionAsync(this HttpClient http, OpenSessionRequest request)
    {
        var ct = TestContext.Current.CancellationToken;
        var response = await http.PostAsJsonAsync("/api/sessions", request, ApiJsonContext.Default.OpenSessionRequest, ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, ct))!;
    }
}
