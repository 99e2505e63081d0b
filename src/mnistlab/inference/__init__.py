"""Inference: from a person's image to the 28x28 input the model sees, read by `mnistlab.reader`.

- `image`: reading an image file, bounded in size, every failure one sentence.
- `digits`: MNIST's digit pre-processing (20 px box, centre of mass at the centre).
- `objects`: Fashion-MNIST's conversion of a product photo.
- `preprocessing`: which of the two a dataset's kind of images uses.
- `segmentation`: the ink of a written number cut into one piece per digit.
- `number`: every digit of an image read, left to right.
"""

import lazy_loader

# Each name loads its module on first use (SPEC 1), so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "image": ["load_image"],
        "digits": ["preprocess", "preprocess_intensities"],
        "objects": ["preprocess_object", "preprocess_object_intensities"],
        "preprocessing": ["DIGITS", "OBJECTS", "Preprocessing", "for_kind"],
        "segmentation": ["Piece", "Segmentation", "segment"],
        "number": ["DigitReading", "NumberReading", "number_fields", "read_drawing", "read_number"],
    },
)
