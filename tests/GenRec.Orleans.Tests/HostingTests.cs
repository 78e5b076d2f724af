using Microsoft.Extensions.Options;
using Orleans.TestingHost;

namespace GenRec.Orleans.Tests;

public sealed class HostingTests
{
    [Fact]
    public async Task A_silo_with_bad_options_does_not_start_and_says_what_is_wrong()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo
            .AddGenRecGrains(o =>
            {
                o.ModelPath = "/nonexistent/model";
                o.MaxEvents = 0;
            })
            .UseInMemoryGenRecStorage());
        await using var cluster = builder.Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => cluster.DeployAsync());

        var validation = Assert.IsType<OptionsValidationException>(Flatten(e).First(x => x is OptionsValidationException));
        Assert.Contains("ModelPath '/nonexistent/model'", validation.Message, StringComparison.Ordinal);
        Assert.Contains("MaxEvents is 0", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stored_state_round_trips_and_foreign_or_newer_bytes_are_refused()
    {
        var serializer = new MessagePackGrainStorageSerializer();
        var state = new UserSessionState { Revision = 3, Events = [new StoredEvent { Item = 7, Action = 1, TimeMilliseconds = 1_000, Value = 4.5f, Id = "a" }] };

        var back = serializer.Deserialize<UserSessionState>(serializer.Serialize(state));

        Assert.Equal(3, back.Revision);
        Assert.Equal(("a", 7L, 4.5f), (back.Events[0].Id, back.Events[0].Item, back.Events[0].Value!.Value));
        var bytes = serializer.Serialize(state).ToArray();
        bytes[4] = 2;
        Assert.Contains("format version 2", Assert.Throws<InvalidDataException>(() => serializer.Deserialize<UserSessionState>(new BinaryData(bytes))).Message, StringComparison.Ordinal);
        Assert.Contains("not GenRec grain state", Assert.Throws<InvalidDataException>(() => serializer.Deserialize<UserSessionState>(BinaryData.FromString("{\"json\":1}"))).Message, StringComparison.Ordinal);
        Assert.Contains("damaged", Assert.Throws<InvalidDataException>(() => serializer.Deserialize<UserSessionState>(new BinaryData(bytes[..5].Concat(new byte[] { 0xC1 }).ToArray().Select((b, i) => i == 4 ? (byte)1 : b).ToArray()))).Message, StringComparison.Ordinal);
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        yield return e;
        if (e is AggregateException a)
        {
            foreach (var inner in a.InnerExceptions.SelectMany(Flatten))
            {
                yield return inner;
            }
        }
        else if (e.InnerException is { } inner)
        {
            foreach (var x in Flatten(inner))
            {
                yield return x;
            }
        }
    }
}
