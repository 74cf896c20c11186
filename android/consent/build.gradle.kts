// Android library module: the shell (facade, Keystore key provider,
// permission bridge, logcat sink) over the generated bindings (:bindings),
// and the native libraries built by scripts/build-android.sh.
//
//   scripts/build-android.sh      # cargo-ndk: jniLibs for the four ABIs + bindings
//   ./gradlew :consent:assembleRelease
//
// Not built on our machines (no Android SDK or Gradle there): ../pom.xml
// compiles the same sources and runs the same tests, Robolectric included.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "kz.altyncoin.consent"
    // As ../pom.xml, which compiles against android-all for API 35.
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        // JNA and the generated bindings: what R8 must keep (proved by ../pom.xml).
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
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
            it.systemProperty("altyn.policy", rootProject.file("../core/policy/altyncoin-privacy-ru.json").path)
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
    // Every public declaration of the library says so, with its type.
    explicitApi()
}

dependencies {
    api(project(":bindings"))
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    testImplementation("org.junit.jupiter:junit-jupiter:5.14.4")
    // Robolectric's runner is JUnit 4: the vintage engine runs it on the platform.
    testImplementation("junit:junit:4.13.2")
    testRuntimeOnly("org.junit.vintage:junit-vintage-engine:5.14.4")
    testImplementation("org.robolectric:robolectric:4.16")
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-test:1.10.2")
    testImplementation("net.java.dev.jna:jna:5.17.0")
    testImplementation("org.json:json:20250517")
}
