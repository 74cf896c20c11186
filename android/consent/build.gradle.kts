// Android library module: the generated UniFFI bindings, the shell, and the
// native libraries built by scripts/build-android.sh.
//
//   scripts/build-android.sh      # cargo-ndk: jniLibs for the four ABIs + bindings
//   ./gradlew :consent:assembleRelease
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "kz.altyncoin.consent"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            // Written by scripts/build-android.sh (never committed).
            kotlin.srcDir(rootProject.file("../target/bindings/kotlin"))
            jniLibs.srcDir(layout.buildDirectory.dir("rustJniLibs/android"))
        }
    }

    testOptions {
        unitTests.all {
            it.useJUnitPlatform()
            // The JVM unit tests load the host-built library and start the
            // reference server (cargo build -p altyn-consent-bindings -p altyn-consent-server).
            it.systemProperty("jna.library.path", rootProject.file("../target/debug").path)
            it.systemProperty("altyn.server.bin", rootProject.file("../target/debug/altyn-consent-server").path)
            it.systemProperty("altyn.golden", rootProject.file("../bindings/golden/journey.json").path)
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings call the library through JNA (the AAR variant
    // carries JNA's own native libraries for every ABI).
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    testImplementation("org.junit.jupiter:junit-jupiter:5.14.4")
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-test:1.10.2")
    testImplementation("net.java.dev.jna:jna:5.17.0")
    testImplementation("org.json:json:20250517")
}
