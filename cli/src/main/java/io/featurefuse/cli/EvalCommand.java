package io.featurefuse.cli;

import io.featurefuse.engine.io.SafeTensors;
import io.featurefuse.nn.data.Augment;
import io.featurefuse.nn.data.DataLoader;
import io.featurefuse.nn.models.Classifier;
import io.featurefuse.nn.train.Evaluation;
import io.featurefuse.nn.train.TrainedWith;
import io.featurefuse.nn.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** fuse eval: accuracy, loss, per-class accuracy and confusion of saved weights on the test split. */
final class EvalCommand {
    private EvalCommand() {}

    static int run(List<String> args, PrintStream out) throws IOException {
        Options o = Options.parse("eval", args, Set.of("--model", "--weights", "--data", "--batch", "--threads"), Set.of("--json"));
        Common.threads(o);
        String spec = o.string("--model", "resnet_a"), weights = o.string("--weights", null);
        if (weights == null) throw new UsageException("eval: --weights F is required: a safetensors file saved by fuse train or by PyTorch");
        Common.existingFile("eval", "--weights", Path.of(weights));
        DataSource data = DataSource.open(o.string("--data", null), "eval");
        Classifier model = Common.model(spec, data.test().channels(), data.test().classes().size(), 0, "eval");
        SafeTensors.Contents file = SafeTensors.read(Path.of(weights));
        try {
            model.loadStateDict(file.tensors(), true);
        } catch (IllegalArgumentException e) {
            String record = TrainedWith.misfit(file.metadata(), spec, data.test().channels(), data.test().classes().size());
            throw new UsageException("eval: " + weights + " does not fit --model " + spec + record + ": " + e.getMessage().replace("loadStateDict: ", ""));
        }
        DataLoader loader = new DataLoader(data.test(), o.integer("--batch", 500, 1, 65_536), false, 0, data.mean(), data.std(), Augment.NONE);
        Evaluation ev = Trainer.evaluate(model, loader);
        if (o.flag("--json")) out.println(json(spec, ev, data.test().classes()));
        else out.print(ev.report(data.test().classes()));
        return 0;
    }

    static String json(String spec, Evaluation ev, List<String> classes) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "{\"model\":\"%s\",\"test_acc\":%.6f,\"test_loss\":%.6f,\"top5_acc\":%.6f,\"images\":%d,\"classes\":[",
                spec, ev.accuracy(), ev.meanLoss(), ev.topKAccuracy(), ev.count()));
        for (int i = 0; i < classes.size(); i++) s.append(i > 0 ? "," : "").append(io.featurefuse.engine.io.Json.quote(classes.get(i)));
        s.append("],\"per_class\":[");
        double[] pc = ev.perClassAccuracy();
        for (int i = 0; i < pc.length; i++) s.append(i > 0 ? "," : "").append(Double.isNaN(pc[i]) ? "null" : String.format(Locale.ROOT, "%.6f", pc[i]));
        s.append("],\"confusion\":[");
        long[][] cm = ev.confusion();
        for (int i = 0; i < cm.length; i++) {
            s.append(i > 0 ? "," : "").append('[');
            for (int j = 0; j < cm[i].length; j++) s.append(j > 0 ? "," : "").append(cm[i][j]);
            s.append(']');
        }
        return s.append("]}").toString();
    }
}
