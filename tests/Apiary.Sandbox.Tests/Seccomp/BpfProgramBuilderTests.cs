using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

public sealed class BpfProgramBuilderTests
{
    [Fact]
    public void Build_ForwardLabels_ResolvedToOffsetsFromTheNextInstruction()
    {
        var builder = new BpfProgramBuilder();
        var yes = builder.NewLabel();
        var no = builder.NewLabel();
        builder.Load(0);
        builder.JumpIfEqual(7, yes, no);
        builder.Return(1);
        builder.Mark(yes);
        builder.Return(2);
        builder.Mark(no);
        builder.Return(3);

        var program = builder.Build();

        Assert.Equal(new BpfInstruction(BpfInstruction.JumpIfEqual, 1, 2, 7), program[1]);
        Assert.Equal(2u, BpfInterpreter.Run(program, 0, 7));
        Assert.Equal(3u, BpfInterpreter.Run(program, 0, 8));
    }

    [Fact]
    public void Build_LabelNeverPlaced_Throws()
    {
        var builder = new BpfProgramBuilder();
        builder.JumpIfEqual(1, builder.NewLabel());
        builder.Return(0);

        Assert.Throws<InvalidOperationException>(builder.Build);
    }

    [Fact]
    public void Build_JumpBackward_Throws()
    {
        var builder = new BpfProgramBuilder();
        var start = builder.NewLabel();
        builder.Mark(start);
        builder.Load(0);
        builder.JumpIfEqual(1, start);
        builder.Return(0);

        var error = Assert.Throws<InvalidOperationException>(builder.Build);
        Assert.Contains("forward", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(255, true)]
    [InlineData(256, false)]
    public void Build_ConditionalJump_ReachesAtMost255Ahead(int skipped, bool builds)
    {
        var builder = new BpfProgramBuilder();
        var far = builder.NewLabel();
        builder.JumpIfEqual(1, far);
        for (var i = 0; i < skipped; i++)
        {
            builder.Return(0);
        }

        builder.Mark(far);
        builder.Return(1);

        if (builds)
        {
            Assert.Equal(skipped, builder.Build()[0].JumpIfTrue);
        }
        else
        {
            Assert.Throws<InvalidOperationException>(builder.Build);
        }
    }

    [Fact]
    public void Mark_SameLabelTwice_Throws()
    {
        var builder = new BpfProgramBuilder();
        var label = builder.NewLabel();
        builder.Mark(label);

        Assert.Throws<InvalidOperationException>(() => builder.Mark(label));
    }

    [Fact]
    public void Decode_LengthNotMultipleOfEight_Throws()
    {
        Assert.Throws<ArgumentException>(() => BpfInstruction.Decode(new byte[7]));
    }
}
