package io.featurefuse.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/** The fuse command: dispatches to a command; bad input gets one sentence on stderr and exit status 2. */
public final class Main {
    private Main() {}

    static final String USAGE = """
            usage: fuse <command> [options]

            commands:
              compare   the main job: train each backbone alone and every fusion strategy the same way, then
                        print which wins; results.json and report.html in --out DIR (default runs/compare-*)
                        (--models A,B or --a SPEC[:weights.safetensors] --b ...  --tap-a T --tap-b T
                         --strategies add,concat,...|--all  --seeds N  --epochs N (1)  --data DIR
                         --limit N (6000 of the shipped subset, else all)
                         --freeze  --backbone-lr X  --channels C  --align to-larger|to-smaller|HxW
                         --up bilinear|bilinear-corners|nearest|deconv  --down avgpool|maxpool|strided-conv|area|bilinear
                         --batch B  --lr X  --seed S  --threads N  --cka-samples N  --no-singles)
              bench     measure this machine: GEMM and conv GFLOP/s, element-wise and pooling GB/s
                        (--sizes 256,1024,2048  --threads N  --samples K  --seconds S
                         --only sgemm|add|ops|model|train-step|inference|peak|first-step|train-rss|gc-pauses  --json)
                        --vs-torch: the same side by side with PyTorch and NumPy, as benchmarks/side-by-side.sh
                        (--threads N  --rounds R  --sizes 256,1024,2048  --only sgemm|ops|model)
              inspect   how two models' feature maps compare: taps and shapes, the alignment plan, params and
                        FLOPs of every strategy, linear CKA between every pair of taps
                        (--models A,B | --a SPEC[:weights] --b ...  --tap-a T --tap-b T  --data DIR
                         --samples N  --channels C  --align ...  --up ...  --down ...  --json)
              train     train a model (--model resnet_a|vgg_b|resnet:32x2,64x2|vgg:32,64|mobilenet:32,64
                        --data DIR  --epochs N  --batch B  --lr X  --optimizer sgd|adam|adamw
                        --momentum M  --weight-decay W  --schedule cosine|step|constant  --warmup STEPS
                        --clip-norm X  --label-smoothing X  --crop-padding P  --flip P  --seed S
                        --limit N  --threads N  --metrics FILE.jsonl  --save F  --resume  --summary  --json)
              eval      evaluate saved weights (--model ...  --weights F  --data DIR  --batch B  --json)
              version   print the version, the JDK and the SIMD width in use
              help      print this text
            """;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            out.print(USAGE);
            return 0;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        try {
            return switch (args[0]) {
                case "bench" -> BenchCommand.run(rest, out);
                case "compare" -> CompareCommand.run(rest, out);
                case "inspect" -> InspectCommand.run(rest, out);
                case "train" -> TrainCommand.run(rest, out);
                case "eval" -> EvalCommand.run(rest, out);
                case "version", "--version" -> {
                    out.println("featurefuse " + version() + " on JDK " + Runtime.version() + ", "
                            + io.featurefuse.engine.cpu.Simd.describe());
                    yield 0;
                }
                default -> throw new UsageException("unknown command '" + args[0] + "'; the commands are compare, inspect, train, eval, bench, version, help");
            };
        } catch (UsageException e) {
            err.println("fuse: " + e.getMessage());
            return 2;
        } catch (java.io.IOException e) {
            err.println("fuse: " + sentence(e));
            return 2;
        } catch (OutOfMemoryError e) {
            err.println("fuse: out of memory: the Java heap (" + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MB) is too small for this model, batch and data; give it more with FEATUREFUSE_JAVA_OPTS=-Xmx4g");
            return 1;
        }
    }

    /** An I/O failure as a sentence: the file system's own exceptions carry only the path as their message. */
    static String sentence(java.io.IOException e) {
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() == null) {
            String what = switch (f) {
                case java.nio.file.NoSuchFileException x -> "no such file or folder";
                case java.nio.file.AccessDeniedException x -> "permission denied";
                case java.nio.file.FileAlreadyExistsException x -> "already exists";
                case java.nio.file.NotDirectoryException x -> "not a folder";
                case java.nio.file.DirectoryNotEmptyException x -> "a folder that is not empty";
                default -> "cannot be read or written (" + f.getClass().getSimpleName() + ")";
            };
            return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + what;
        }
        return e.getMessage();
    }

    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
