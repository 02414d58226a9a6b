package io.featurefuse.nn.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * A folder with one sub-folder per class, each holding PNG or JPEG images of one size (as
 * torchvision's ImageFolder). Classes are the sub-folder names in sorted order. Images are grey
 * (1 channel) when every image is grey, else RGB (3 channels).
 */
public final class ImageFolder {
    private ImageFolder() {}

    public static Dataset load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + " is not a folder");
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(dir)) {
            classDirs = s.filter(Files::isDirectory).sorted().toList();
        }
        if (classDirs.isEmpty()) throw new IOException(dir + " has no class sub-folders");
        List<BufferedImage> images = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        List<Path> sources = new ArrayList<>();
        for (int c = 0; c < classDirs.size(); c++) {
            List<Path> files;
            try (Stream<Path> s = Files.list(classDirs.get(c))) {
                files = s.filter(p -> p.getFileName().toString().toLowerCase().matches(".*\\.(png|jpe?g)")).sorted().toList();
            }
            for (Path f : files) {
                BufferedImage im;
                try {
                    im = ImageIO.read(f.toFile());
                } catch (IOException e) {
                    throw new IOException(f + ": cannot be decoded as an image (" + e.getMessage() + ")");
                }
                if (im == null) throw new IOException(f + ": cannot be decoded as an image");
                images.add(im);
                labels.add(c);
                sources.add(f);
            }
        }
        if (images.isEmpty()) throw new IOException(dir + " holds no .png or .jpg images in its class folders");
        int h = images.getFirst().getHeight(), w = images.getFirst().getWidth();
        boolean grey = images.stream().allMatch(i -> i.getType() == BufferedImage.TYPE_BYTE_GRAY);
        int ch = grey ? 1 : 3;
        byte[] px = new byte[images.size() * ch * h * w];
        for (int n = 0; n < images.size(); n++) {
            BufferedImage im = images.get(n);
            if (im.getHeight() != h || im.getWidth() != w)
                throw new IOException(sources.get(n) + " is " + im.getWidth() + "x" + im.getHeight() + " but " + sources.getFirst() + " is " + w + "x" + h + "; all images must have one size");
            int base = n * ch * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    // grey samples are read raw: getRGB would convert them through a colour space
                    if (grey) px[base + y * w + x] = (byte) im.getRaster().getSample(x, y, 0);
                    else {
                        int rgb = im.getRGB(x, y);
                        for (int c = 0; c < 3; c++) px[base + c * h * w + y * w + x] = (byte) (rgb >> (16 - 8 * c));
                    }
                }
        }
        return new Dataset(dir.getFileName().toString(), px, labels.stream().mapToInt(Integer::intValue).toArray(), ch, h, w,
                classDirs.stream().map(p -> p.getFileName().toString()).toList());
    }
}
